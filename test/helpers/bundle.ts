// Temp OCI bundles for integration tests: a private copy of the shared busybox rootfs plus a
// config.json from the runtime's default spec.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { testEnv } from './env';

const execFileP = promisify(execFile);

/** An OCI runtime config. Loosely typed on purpose: tests poke at arbitrary fields. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Config = any;

export interface Bundle {
  /** The bundle directory (pass as `--bundle`). */
  dir: string;
  /** `<dir>/rootfs`, a private copy: tests may change it freely. */
  rootfs: string;
  /** `<dir>/config.json`. */
  configPath: string;
  /** The config as written; after changing it call `writeConfig()`. */
  config: Config;
  writeConfig(): void;
  /** Remove the bundle (never crossing into a mount left inside it). Idempotent. */
  cleanup(): Promise<void>;
}

export type ConfigMutator = (config: Config, bundle: Bundle) => void | Promise<void>;

let seq = 0;

/** A fresh directory under the run's temp base (so leak checks recognise mounts in it). */
export function tempDir(prefix = 'tmp'): string {
  const base = testEnv().tmpBase;
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${prefix}-${process.pid}-${++seq}-`));
}

/** A container id unique in this run that contains "tsrunc" (leak checks look for it). */
export function containerId(prefix = 'tsrunc'): string {
  return `${prefix}-${process.pid}-${++seq}`;
}

/** Remove a directory tree without crossing file systems (a leaked mount stays untouched). */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await execFileP('rm', ['-rf', '--one-file-system', '--', dir]);
}

/**
 * The runtime's default config with `process.terminal=false` (the tests have no tty). Uses
 * src/runtime/default-spec; a runc-like copy is used only while that module does not exist.
 */
export async function defaultTestConfig(): Promise<Config> {
  let spec: Config;
  try {
    const mod = await import('../../src/runtime/default-spec');
    spec = mod.defaultSpec({ rootless: false });
  } catch (e) {
    // Fall back only when default-spec itself is missing, not when something it imports fails.
    const missing = /(?:Cannot find module|Failed to load url) '?([^' ]+)/.exec(
      String((e as Error)?.message),
    );
    if (!missing || !missing[1].endsWith('runtime/default-spec')) throw e;
    spec = fallbackSpec();
  }
  const config = structuredClone(spec);
  config.process.terminal = false;
  return config;
}

/** Make a bundle; `mutate` edits the config (and may write into `bundle.rootfs`). */
export async function makeBundle(mutate?: ConfigMutator): Promise<Bundle> {
  const env = testEnv();
  const dir = tempDir('bundle');
  const rootfs = path.join(dir, 'rootfs');
  const configPath = path.join(dir, 'config.json');
  const bundle: Bundle = {
    dir,
    rootfs,
    configPath,
    config: undefined,
    writeConfig() {
      fs.writeFileSync(configPath, JSON.stringify(bundle.config, null, 2));
    },
    cleanup: () => removeTree(dir),
  };
  try {
    await execFileP('cp', ['-a', env.rootfs, rootfs]);
    bundle.config = await defaultTestConfig();
    if (mutate) await mutate(bundle.config, bundle);
    bundle.writeConfig();
  } catch (e) {
    await bundle.cleanup();
    throw e;
  }
  return bundle;
}

/** `runc spec` of runc 1.1.5 with hostname "tsrunc"; used until src/runtime/default-spec exists. */
function fallbackSpec(): Config {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, ambient: caps },
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
}
