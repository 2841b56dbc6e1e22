// The config.json that `tsrunc spec` writes: the same document as runc 1.1's `runc spec`
// (and `runc spec --rootless`), with our hostname and the spec version we implement.
// The lists are built inside the function: nothing happens at import time.
import type { Mount, Spec } from '../spec/types';

export interface DefaultSpecOptions {
  rootless: boolean;
  /** Host uid/gid mapped to root in the rootless spec; default: the caller's effective ids. */
  uid?: number;
  gid?: number;
}

export const DEFAULT_SPEC_VERSION = '1.3.0';

export function defaultSpec(opts: DefaultSpecOptions): object {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const spec: Spec = {
    ociVersion: DEFAULT_SPEC_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      // No inheritable set (CVE-2022-29162), as runc since 1.1.2. runc also lists the three as
      // ambient, which the kernel cannot raise without the inheritable set: left out (README).
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'tsrunc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      // runc's list: no cgroup namespace, so /proc/self/cgroup shows the container's own path
      // and a config that adds {"type": "cgroup"} is not refused as a duplicate.
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  return opts.rootless ? toRootless(spec, opts) : spec;
}

// What `runc spec --rootless` changes: a user namespace mapping only the caller's ids, no network
// namespace, /sys bound from the host (sysfs cannot be mounted without owning the network
// namespace), no uid=/gid= mount options (those ids are not mapped), no cgroup resources.
function toRootless(spec: Spec, opts: DefaultSpecOptions): Spec {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const gid = opts.gid ?? process.getegid?.() ?? 0;
  const linux = spec.linux ?? {};
  const namespaces = (linux.namespaces ?? []).filter((ns) => ns.type !== 'network' && ns.type !== 'user');
  namespaces.push({ type: 'user' });
  const mounts = (spec.mounts ?? []).map((mount): Mount => {
    if (mount.destination.replace(/\/+$/, '') === '/sys') {
      return {
        destination: '/sys',
        type: 'none',
        source: '/sys',
        options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'],
      };
    }
    if (!mount.options) return mount;
    return { ...mount, options: mount.options.filter((o) => !o.startsWith('uid=') && !o.startsWith('gid=')) };
  });
  return {
    ...spec,
    mounts,
    linux: {
      uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
      gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
      namespaces,
      maskedPaths: linux.maskedPaths,
      readonlyPaths: linux.readonlyPaths,
    },
  };
}
