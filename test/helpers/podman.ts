// A private podman for tests (podman has no daemon: every command is a client run): its own
// --root, --runroot and --tmpdir in one directory of this run, vfs storage, cgroupfs, a file
// events backend and the given runtime, with the runtime's state below that directory too
// (--runtime-flag root=...). Nothing of the host's podman storage is touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CommandOptions,
  type CommandResult,
  engineCgroupParent,
  engineDir,
  removeEngineCgroupParent,
  removeEngineDir,
  runClient,
} from './docker';

export interface Podman {
  /** `podman <our global flags> ...args`; rejects on a non-zero exit unless `allowFail`. */
  podman(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  /**
   * Flags every `run`/`create` needs here: no network, the engine cgroup parent, and rlimits
   * the machine allows (podman copies the host's hard limits otherwise, which needs
   * CAP_SYS_RESOURCE that the bounding set lacks).
   */
  runFlags: string[];
  /** The runtime's --root (its container state dirs). */
  runtimeRoot: string;
  dir: string;
  stop(): Promise<void>;
}

export function startPodman(runtime: string): Podman {
  const dir = engineDir('podman');
  const runtimeRoot = path.join(dir, 'runtime');
  fs.mkdirSync(runtimeRoot, { mode: 0o700 });
  const global = [
    '--root',
    path.join(dir, 'root'),
    '--runroot',
    path.join(dir, 'runroot'),
    '--tmpdir',
    path.join(dir, 'tmp'),
    '--storage-driver',
    'vfs',
    '--cgroup-manager',
    'cgroupfs',
    '--events-backend',
    'file',
    '--runtime',
    runtime,
    '--runtime-flag',
    `root=${runtimeRoot}`,
  ];
  const podman = (args: string[], opts: CommandOptions = {}) =>
    runClient('podman', [...global, ...args], opts);
  return {
    dir,
    runtimeRoot,
    podman,
    runFlags: [
      '--network',
      'none',
      '--cgroup-parent',
      engineCgroupParent(),
      '--ulimit',
      'nofile=1024:1024',
      '--ulimit',
      'nproc=1024:1024',
    ],
    stop: async () => {
      await podman(['rm', '--all', '--force', '--time', '0'], { allowFail: true });
      await removeEngineDir(dir);
      removeEngineCgroupParent();
    },
  };
}
