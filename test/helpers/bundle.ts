// Temp OCI bundles for integration tests: a private copy of the shared busybox rootfs plus a
// config.json from the runtime's default spec.
import { execFile, execFileSync } from 'node:child_process';
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

/** Changes the config in place; what it returns is ignored (so `(c) => (c.x = 1)` is fine). */
export type ConfigMutator = (config: Config, bundle: Bundle) => unknown;

let seq = 0;

/** A fresh directory under the run's temp base (so leak checks recognise mounts in it). */
export function tempDir(prefix = 'tmp'): string {
  const base = testEnv().tmpBase;
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `${prefix}-${process.pid}-${++seq}-`));
}

/**
 * A container id unique in this run that contains "tsrunc" and the run id (leak checks look for
 * both: a container's cgroup is named after its id, and another run's cgroups are not ours).
 */
export function containerId(prefix = 'tsrunc'): string {
  return `${prefix}-${testEnv().runId}-${process.pid}-${++seq}`;
}

/** Remove a directory tree without crossing file systems (a leaked mount stays untouched). */
export async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await execFileP('rm', ['-rf', '--one-file-system', '--', dir]);
}

/** The runtime's default config (`tsrunc spec`) with `process.terminal=false`: tests have no tty. */
export async function defaultTestConfig(): Promise<Config> {
  const { defaultSpec } = await import('../../src/runtime/default-spec');
  const config = structuredClone(defaultSpec({ rootless: false })) as Config;
  config.process.terminal = false;
  return config;
}

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

const USER_MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];

/** A user namespace with id maps; the rootfs belongs to the mapped root (host uid 100000). */
export function withUserNamespace(c: Config, b: Bundle): void {
  c.linux.namespaces.push({ type: 'user' });
  c.linux.uidMappings = USER_MAP;
  c.linux.gidMappings = USER_MAP;
  execFileSync('chown', ['-R', '-h', '100000:100000', b.rootfs]);
  // mkdtemp made the bundle dir 0700: the mapped root must reach its rootfs.
  fs.chmodSync(b.dir, 0o755);
}
