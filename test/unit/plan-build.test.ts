import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildPlan, inheritedStdio, type PlanContext } from '../../src/plan/build';
import type { HostMount } from '../../src/plan/host';
import { CLONE, MOUNT_ATTR, MS, S_IF } from '../../src/plan/linux';
import type { LinuxNamespace, Spec } from '../../src/spec/types';

let bundle: string;

beforeAll(() => {
  bundle = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-plan-'));
  fs.mkdirSync(path.join(bundle, 'rootfs'));
  fs.mkdirSync(path.join(bundle, 'data'));
  fs.writeFileSync(path.join(bundle, 'file.txt'), 'x');
});

afterAll(() => fs.rmSync(bundle, { recursive: true, force: true }));

const hostMounts: HostMount[] = [
  { id: 21, mountPoint: '/', fstype: 'ext4', superOptions: 'rw', root: '/', shared: false },
  { id: 22, mountPoint: '/sys/fs/cgroup', fstype: 'tmpfs', superOptions: 'rw', root: '/', shared: false },
  {
    id: 23,
    mountPoint: '/sys/fs/cgroup/cpu',
    fstype: 'cgroup',
    superOptions: 'rw,cpu',
    root: '/',
    shared: false,
  },
  {
    id: 30,
    mountPoint: '/sys/fs/cgroup/systemd',
    fstype: 'cgroup',
    superOptions: 'rw,xattr,name=systemd',
    root: '/',
    shared: false,
  },
  {
    id: 24,
    mountPoint: '/sys/fs/cgroup/unified',
    fstype: 'cgroup2',
    superOptions: 'rw',
    root: '/',
    shared: false,
  },
];

function context(overrides: Partial<PlanContext> = {}): PlanContext {
  return {
    id: 'c1',
    bundle,
    noPivot: false,
    noNewKeyring: false,
    stdio: inheritedStdio(0),
    consoleSocketFd: -1,
    execFifoFd: 7,
    joins: [],
    lastCap: 40,
    hostMounts,
    cgroups: new Map([
      ['cpu', '/a'],
      ['name=systemd', '/b'],
      ['', '/c'],
    ]),
    warn: () => {},
    ...overrides,
  };
}

function spec(overrides: Partial<Spec> & { linux?: Spec['linux'] } = {}): Spec {
  return {
    ociVersion: '1.3.0',
    root: { path: 'rootfs' },
    process: { cwd: '/', args: ['sh'], env: ['PATH=/usr/bin:/bin', 'TERM=xterm'], user: { uid: 0, gid: 0 } },
    mounts: [],
    ...overrides,
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }], ...overrides.linux },
  } as Spec;
}

describe('buildPlan', () => {
  it('creates the configured namespaces, the user namespace apart', () => {
    const { plan } = buildPlan(
      spec({
        linux: { namespaces: [{ type: 'user' }, { type: 'mount' }, { type: 'uts' }, { type: 'network' }] },
      }),
      context(),
    );
    expect(plan.newUserNamespace).toBe(true);
    expect(plan.newNamespaceFlags).toBe(CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWNET);
    expect(plan.buildRootfs).toBe(true);
    expect(plan.enterRoot).toBe('pivot_root');
  });

  it('builds the rootfs and pivots into it in a mount namespace joined by path', () => {
    const { plan } = buildPlan(
      spec({
        linux: { namespaces: [{ type: 'mount', path: '/proc/1/ns/mnt' }], maskedPaths: ['/proc/kcore'] },
        mounts: [{ destination: '/proc', type: 'proc' }],
      }),
      context({ joins: [{ type: CLONE.NEWNS, fd: 9 }] }),
    );
    expect(plan.buildRootfs).toBe(true);
    expect(plan.enterRoot).toBe('pivot_root');
    expect(plan.mounts.map((m) => m.destination)).toEqual(['/proc']);
    expect(plan.maskedPaths).toEqual(['/proc/kcore']);
    expect(plan.joinNamespaces).toEqual([{ type: CLONE.NEWNS, fd: 9 }]);
  });

  it("builds the rootfs in the runtime's mount namespace and chroots without a mount namespace", () => {
    const { plan } = buildPlan(
      spec({
        linux: { namespaces: [{ type: 'pid' }] },
        mounts: [{ destination: '/proc', type: 'proc' }],
      }),
      context(),
    );
    expect(plan.newNamespaceFlags).toBe(CLONE.NEWPID);
    expect(plan.buildRootfs).toBe(true);
    expect(plan.enterRoot).toBe('chroot');
    expect(plan.mounts.map((m) => m.destination)).toEqual(['/proc']);
  });

  it('exec: nothing to build; chroot only when the container has no mount namespace', () => {
    const exec = (namespaces: LinuxNamespace[], joins: PlanContext['joins']) =>
      buildPlan(
        spec({ linux: { namespaces }, mounts: [{ destination: '/proc', type: 'proc' }] }),
        context({ execMode: true, joins }),
      ).plan;
    const withMountNs = exec([{ type: 'mount', path: '/proc/1/ns/mnt' }], [{ type: CLONE.NEWNS, fd: 9 }]);
    expect([withMountNs.enterRoot, withMountNs.buildRootfs, withMountNs.mounts]).toEqual(['none', false, []]);
    const withoutMountNs = exec([{ type: 'pid', path: '/proc/1/ns/pid' }], [{ type: CLONE.NEWPID, fd: 9 }]);
    expect([withoutMountNs.enterRoot, withoutMountNs.buildRootfs]).toEqual(['chroot', false]);
  });

  it('joins the user namespace first and the mount namespace last', () => {
    const joins = [
      { type: CLONE.NEWNS, fd: 5 },
      { type: CLONE.NEWNET, fd: 6 },
      { type: CLONE.NEWUSER, fd: 7 },
    ];
    const { plan } = buildPlan(spec(), context({ joins }));
    expect(plan.joinNamespaces.map((j) => j.fd)).toEqual([7, 6, 5]);
  });

  it('keeps "/" a slave until after the pivot when it is to be unbindable; shared is asked again', () => {
    const propagation = (rootfsPropagation: string | undefined) => {
      const { plan } = buildPlan(
        spec({ linux: { namespaces: [{ type: 'mount' }], rootfsPropagation } }),
        context(),
      );
      return [plan.rootPropagation, plan.rootPropagationAfterPivot];
    };
    expect(propagation(undefined)).toEqual([MS.SLAVE | MS.REC, 0]);
    expect(propagation('rprivate')).toEqual([MS.PRIVATE | MS.REC, 0]);
    expect(propagation('unbindable')).toEqual([MS.SLAVE | MS.REC, MS.UNBINDABLE]);
    expect(propagation('runbindable')).toEqual([MS.SLAVE | MS.REC, MS.UNBINDABLE | MS.REC]);
    expect(propagation('shared')).toEqual([MS.SHARED, MS.SHARED]);
    expect(propagation('rshared')).toEqual([MS.SHARED | MS.REC, MS.SHARED | MS.REC]);
  });

  it('resolves the rootfs against the bundle', () => {
    const { plan } = buildPlan(spec(), context());
    expect(plan.rootfs).toBe(fs.realpathSync(path.join(bundle, 'rootfs')));
  });

  it('names a missing rootfs', () => {
    expect(() => buildPlan(spec({ root: { path: 'nope' } }), context())).toThrow(
      /config.json: root.path: rootfs .*nope does not exist/,
    );
  });

  it('computes flags for kernel filesystems and marks proc/sysfs as no-symlink targets', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [
          { destination: '/proc', type: 'proc', source: 'proc' },
          {
            destination: '/dev',
            type: 'tmpfs',
            source: 'tmpfs',
            options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
          },
          {
            destination: '/sys',
            type: 'sysfs',
            source: 'sysfs',
            options: ['nosuid', 'noexec', 'nodev', 'ro'],
          },
        ],
      }),
      context(),
    );
    expect(plan.mounts[0]).toMatchObject({ fstype: 'proc', flags: 0, noSymlinks: true });
    expect(plan.mounts[1]).toMatchObject({
      fstype: 'tmpfs',
      flags: MS.NOSUID | MS.STRICTATIME,
      data: 'mode=755,size=65536k',
      noSymlinks: false,
    });
    expect(plan.mounts[2]).toMatchObject({
      flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
      noSymlinks: true,
    });
  });

  it('a read-only tmpfs or /dev is made read-write, and read-only once the rootfs is complete', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [
          { destination: '/dev/', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'ro'] },
          { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nodev', 'mode=700'] },
          { destination: '/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
          { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['ro'] },
          { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro'] },
        ],
      }),
      context(),
    );
    expect(plan.mounts.map((m) => [m.flags, m.readonlyLateFlags])).toEqual([
      [MS.NOSUID | MS.STRICTATIME, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.STRICTATIME],
      [MS.NODEV, MS.BIND | MS.REMOUNT | MS.RDONLY | MS.NODEV],
      [MS.NOSUID, 0],
      [MS.RDONLY, 0],
      [MS.BIND | MS.REC, 0],
    ]);
  });

  it('rbind + ro: read-only for every submount too (optional without mount_setattr); recursive options', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [
          { destination: '/a', type: 'bind', source: 'data', options: ['rbind', 'ro'] },
          { destination: '/b', type: 'bind', source: 'data', options: ['bind', 'ro'] },
          { destination: '/c', type: 'bind', source: 'data', options: ['rbind', 'ro', 'rnosuid'] },
          { destination: '/d', type: 'bind', source: 'data', options: ['rbind', 'ro', 'rrw'] },
          { destination: '/e', type: 'tmpfs', source: 'tmpfs', options: ['rnoexec'] },
          { destination: '/f', type: 'bind', source: 'data', options: ['rbind'] },
        ],
      }),
      context(),
    );
    expect(
      plan.mounts.map((m) => [m.recursiveAttrSet, m.recursiveAttrClear, m.recursiveAttrOptional]),
    ).toEqual([
      [MOUNT_ATTR.RDONLY, 0, true],
      [0, 0, false],
      [MOUNT_ATTR.RDONLY | MOUNT_ATTR.NOSUID, 0, false],
      [0, MOUNT_ATTR.RDONLY, false],
      [MOUNT_ATTR.NOEXEC, 0, false],
      [0, 0, false],
    ]);
    // The plain flags still go to the remount of the top mount.
    expect(plan.mounts[0].remountFlags).toBe(MS.RDONLY);
  });

  it('binds with a remount for the flags a bind cannot take directly', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [
          {
            destination: '/data',
            type: 'bind',
            source: 'data',
            options: ['rbind', 'ro', 'nosuid', 'rprivate'],
          },
          { destination: '/etc/f', source: path.join(bundle, 'file.txt'), options: ['bind'] },
        ],
      }),
      context(),
    );
    expect(plan.mounts[0]).toMatchObject({
      source: path.join(bundle, 'data'),
      flags: MS.BIND | MS.REC,
      remountFlags: MS.RDONLY | MS.NOSUID,
      propagation: MS.PRIVATE | MS.REC,
      destinationKind: 'dir',
    });
    expect(plan.mounts[1]).toMatchObject({ flags: MS.BIND, remountFlags: 0, destinationKind: 'file' });
  });

  it('in a user namespace the bind sources are opened by the runtime (slave, or private with rprivate "/")', () => {
    const opened: [string, boolean, number][] = [];
    const openBindSource = (source: string, recursive: boolean, propagation: number) =>
      opened.push([source, recursive, propagation]) + 99;
    const mounts = [
      { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro'] },
      { destination: '/etc/f', source: path.join(bundle, 'file.txt'), options: ['bind'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: [] },
    ];
    const userns = { namespaces: [{ type: 'mount' as const }, { type: 'user' as const }] };
    const { plan } = buildPlan(spec({ mounts, linux: userns }), context({ openBindSource }));
    expect(plan.mounts.map((m) => m.sourceFd)).toEqual([100, 101, -1]);
    expect(opened).toEqual([
      [path.join(bundle, 'data'), true, MS.SLAVE],
      [path.join(bundle, 'file.txt'), false, MS.SLAVE],
    ]);
    opened.length = 0;
    buildPlan(
      spec({ mounts, linux: { ...userns, rootfsPropagation: 'rprivate' } }),
      context({ openBindSource }),
    );
    expect(opened.map((o) => o[2])).toEqual([MS.PRIVATE, MS.PRIVATE]);
    // Without a user namespace every bind is mounted by path.
    opened.length = 0;
    const plain = buildPlan(spec({ mounts }), context({ openBindSource })).plan;
    expect(plain.mounts.map((m) => m.sourceFd)).toEqual([-1, -1, -1]);
    expect(opened).toEqual([]);
  });

  it('a bind source the runtime cannot open is named', () => {
    const openBindSource = () => {
      throw new Error('open_tree: permission denied');
    };
    expect(() =>
      buildPlan(
        spec({
          mounts: [{ destination: '/x', type: 'bind', source: 'data', options: ['bind'] }],
          linux: { namespaces: [{ type: 'mount' }, { type: 'user' }] },
        }),
        context({ openBindSource }),
      ),
    ).toThrow(
      `config.json: mounts[0].source: cannot open bind source ${path.join(bundle, 'data')}: open_tree: permission denied`,
    );
  });

  it('names a missing bind source', () => {
    expect(() =>
      buildPlan(
        spec({ mounts: [{ destination: '/x', type: 'bind', source: '/does/not/exist', options: ['bind'] }] }),
        context(),
      ),
    ).toThrow('config.json: mounts[0].source: bind source /does/not/exist does not exist');
  });

  it('expands a cgroup mount into a tmpfs, one bind per hierarchy, and a read-only remount', () => {
    const { plan, labels } = buildPlan(
      spec({
        mounts: [
          {
            destination: '/sys/fs/cgroup',
            type: 'cgroup',
            source: 'cgroup',
            options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
          },
        ],
      }),
      context(),
    );
    expect(plan.mounts.map((m) => [m.fstype, m.source, m.destination])).toEqual([
      ['tmpfs', 'tmpfs', '/sys/fs/cgroup'],
      ['', '/sys/fs/cgroup/cpu/a', '/sys/fs/cgroup/cpu'],
      ['', '/sys/fs/cgroup/systemd/b', '/sys/fs/cgroup/systemd'],
      ['', '/sys/fs/cgroup/unified/c', '/sys/fs/cgroup/unified'],
      ['', '', '/sys/fs/cgroup'],
    ]);
    expect(plan.mounts[1].remountFlags & MS.RDONLY).toBe(MS.RDONLY);
    expect(plan.mounts[4].flags & (MS.REMOUNT | MS.RDONLY)).toBe(MS.REMOUNT | MS.RDONLY);
    expect(labels.mounts.every((l) => l.startsWith('mounts[0]'))).toBe(true);
  });

  it('creates the default devices and the configured ones on a tmpfs /dev', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }],
        linux: {
          namespaces: [{ type: 'mount' }],
          devices: [
            { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o600, uid: 5, gid: 6 },
            { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o644 },
          ],
        },
      }),
      context(),
    );
    const byPath = new Map(plan.devices.map((d) => [d.path, d]));
    expect([...byPath.keys()].sort()).toEqual([
      '/dev/full',
      '/dev/fuse',
      '/dev/null',
      '/dev/random',
      '/dev/tty',
      '/dev/urandom',
      '/dev/zero',
    ]);
    expect(byPath.get('/dev/fuse')).toMatchObject({
      type: S_IF.CHR,
      major: 10,
      minor: 229,
      mode: 0o600,
      uid: 5,
      gid: 6,
    });
    expect(byPath.get('/dev/null')!.mode).toBe(0o644);
    expect(plan.symlinks.map((s) => s.path)).toEqual([
      '/dev/fd',
      '/dev/stdin',
      '/dev/stdout',
      '/dev/stderr',
      '/dev/ptmx',
    ]);
  });

  it('bind-mounts devices from the host inside a user namespace', () => {
    const { plan } = buildPlan(
      spec({
        mounts: [{ destination: '/dev', type: 'tmpfs', source: 'tmpfs' }],
        linux: { namespaces: [{ type: 'mount' }, { type: 'user' }] },
      }),
      context(),
    );
    expect(plan.devices.every((d) => d.bindFromHost)).toBe(true);
  });

  it('refuses devices in a bind-mounted /dev', () => {
    expect(() =>
      buildPlan(
        spec({
          mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }],
          linux: {
            namespaces: [{ type: 'mount' }],
            devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }],
          },
        }),
        context(),
      ),
    ).toThrow('config.json: linux.devices: cannot create devices in a /dev that is a bind mount');
  });

  it('turns capability names into bit masks', () => {
    const { plan } = buildPlan(
      spec({
        process: {
          cwd: '/',
          args: ['sh'],
          user: { uid: 0, gid: 0 },
          capabilities: {
            bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
            effective: ['CAP_KILL'],
            permitted: ['CAP_KILL'],
            inheritable: [],
            ambient: [],
          },
        },
      }),
      context(),
    );
    expect(plan.capabilities).toEqual({
      bounding: (1n << 0n) | (1n << 5n) | (1n << 10n),
      effective: 1n << 5n,
      permitted: 1n << 5n,
      inheritable: 0n,
      ambient: 0n,
      lastCap: 40,
    });
  });

  it('skips capabilities the kernel does not know, with a warning', () => {
    const warnings: string[] = [];
    const { plan } = buildPlan(
      spec({
        process: {
          cwd: '/',
          args: ['sh'],
          user: { uid: 0, gid: 0 },
          capabilities: { bounding: ['CAP_CHECKPOINT_RESTORE', 'CAP_CHOWN'] },
        },
      }),
      context({ lastCap: 39, warn: (m) => warnings.push(m) }),
    );
    expect(plan.capabilities!.bounding).toBe(1n);
    expect(warnings[0]).toMatch(/CAP_CHECKPOINT_RESTORE is not supported/);
  });

  it('raises only ambient capabilities that are permitted and inheritable, warning about the rest', () => {
    const warnings: string[] = [];
    const { plan } = buildPlan(
      spec({
        process: {
          cwd: '/',
          args: ['sh'],
          user: { uid: 0, gid: 0 },
          capabilities: {
            permitted: ['CAP_KILL', 'CAP_CHOWN'],
            inheritable: ['CAP_CHOWN'],
            ambient: ['CAP_KILL', 'CAP_CHOWN'],
          },
        },
      }),
      context({ warn: (m) => warnings.push(m) }),
    );
    expect(plan.capabilities!.ambient).toBe(1n);
    expect(warnings).toEqual([
      'process.capabilities.ambient: CAP_KILL not raised: not both permitted and inheritable',
    ]);
  });

  it('keeps no capability state when the config has none', () => {
    expect(buildPlan(spec(), context()).plan.capabilities).toBeNull();
  });

  it('converts rlimits, clamping infinity', () => {
    const { plan } = buildPlan(
      spec({
        process: {
          cwd: '/',
          args: ['sh'],
          user: { uid: 0, gid: 0 },
          rlimits: [
            { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
            { type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 },
          ],
        },
      }),
      context(),
    );
    expect(plan.rlimits).toEqual([
      { resource: 7, soft: 1024n, hard: 4096n },
      { resource: 4, soft: (1n << 64n) - 1n, hard: (1n << 64n) - 1n },
    ]);
  });

  it('takes the process fields as given', () => {
    const { plan } = buildPlan(
      spec({
        hostname: 'box',
        domainname: 'example.org',
        process: {
          cwd: '/work',
          args: ['sleep', '1'],
          env: ['A=1', 'PATH=/sbin:/bin'],
          user: { uid: 1000, gid: 1001, additionalGids: [5, 6], umask: 0o077 },
          noNewPrivileges: true,
          oomScoreAdj: 100,
        },
        linux: {
          namespaces: [{ type: 'mount' }, { type: 'uts' }],
          sysctl: { 'kernel.domainname': 'x', 'net.ipv4.ip_forward': '1' },
          personality: { domain: 'LINUX32' },
        },
      }),
      context({ noNewKeyring: true }),
    );
    expect(plan).toMatchObject({
      args: ['sleep', '1'],
      env: ['A=1', 'PATH=/sbin:/bin'],
      searchPath: '/sbin:/bin',
      cwd: '/work',
      uid: 1000,
      gid: 1001,
      additionalGids: [5, 6],
      umask: 0o077,
      noNewPrivileges: true,
      oomScoreAdj: 100,
      hostname: 'box',
      domainname: 'example.org',
      personality: 8,
      sessionKeyringName: null,
      sysctl: [
        { path: 'kernel/domainname', value: 'x' },
        { path: 'net/ipv4/ip_forward', value: '1' },
      ],
    });
  });

  it("passes the stdio map through as the container's fds 0-2 and 3..", () => {
    const stdio = { stdin: 9, stdout: 1, stderr: 1, extra: [0, 12] };
    const { plan } = buildPlan(spec(), context({ stdio }));
    expect(plan.stdio).toEqual([9, 1, 1]);
    expect(plan.extraFds).toEqual([0, 12]);
    // A copy: the caller's array is not the plan's.
    stdio.extra.push(13);
    expect(plan.extraFds).toEqual([0, 12]);
  });

  it("--preserve-fds N: the caller's own fds 0-2 and 3..3+N-1", () => {
    expect(inheritedStdio(0)).toEqual({ stdin: 0, stdout: 1, stderr: 2, extra: [] });
    expect(inheritedStdio(3)).toEqual({ stdin: 0, stdout: 1, stderr: 2, extra: [3, 4, 5] });
    const { plan } = buildPlan(spec(), context({ stdio: inheritedStdio(2) }));
    expect(plan.stdio).toEqual([0, 1, 2]);
    expect(plan.extraFds).toEqual([3, 4]);
  });

  it('defaults umask to 022 and keyring to a per-container session keyring', () => {
    const { plan } = buildPlan(spec(), context());
    expect(plan.umask).toBe(0o022);
    expect(plan.sessionKeyringName).toBe('_ses.c1');
  });

  it('writes time namespace offsets and id maps in the kernel formats', () => {
    const built = buildPlan(
      spec({
        linux: {
          namespaces: [{ type: 'mount' }, { type: 'time' }, { type: 'user' }],
          timeOffsets: { monotonic: { secs: 86400, nanosecs: 5 }, boottime: { secs: -10 } },
          uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
          gidMappings: [{ containerID: 0, hostID: 200000, size: 1000 }],
        },
      }),
      context(),
    );
    expect(built.plan.timeOffsets).toBe('monotonic 86400 5\nboottime -10 0\n');
    expect(built.plan.newNamespaceFlags & CLONE.NEWTIME).toBe(CLONE.NEWTIME);
    expect(built.uidMappings).toBe('0 100000 65536\n');
    expect(built.gidMappings).toBe('0 200000 1000\n');
  });
});
