// A private podman for tests (podman has no daemon: every command is a client run): its own
// --root, --runroot and --tmpdir in one directory of this run, vfs storage, cgroupfs, a file
// events backend and tsrunc as the runtime, through a wrapper that gives tsrunc a --root in
// that directory too. (Not --runtime-flag root=...: podman 4.3 leaves runtime flags out of the
// exit command conmon runs, so the `delete --force` of the cleanup would look in the default
// root and leave the container behind.) Nothing of the host's podman storage is touched.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CommandOptions,
  type CommandResult,
  engineCgroupParent,
  removeEngineCgroupParent,
  removeEngineDir,
  runClient,
  writeRuntimeWrapper,
} from './docker';
import { testEnv } from './env';

export interface Podman {
  /** `podman <our global flags> ...args`; rejects on a non-zero exit unless `allowFail`. */
  podman(args: string[], opts?: CommandOptions): Promise<CommandResult>;
  /**
   * Flags every `run`/`create` needs here: no network, the engine cgroup parent, and rlimits
   * the machine allows (podman copies the host's hard limits otherwise, which needs
   * CAP_SYS_RESOURCE that the bounding set lacks).
   */
  runFlags: string[];
  /** The runtime wrapper podman runs. */
  runtime: string;
  /** The runtime's --root (its container state dirs). */
  runtimeRoot: string;
  /** Every runtime command line podman (or conmon) ran, one a line (see runtimeCalls). */
  callLog: string;
  dir: string;
  stop(): Promise<void>;
}

export function startPodman(): Podman {
  // Short: podman refuses a --runroot longer than 50 characters.
  const dir = path.join(testEnv().stateBase, `pm${process.pid}`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const runtimeRoot = path.join(dir, 'runtime');
  fs.mkdirSync(runtimeRoot, { mode: 0o700 });
  const callLog = path.join(dir, 'runtime-calls.log');
  fs.writeFileSync(callLog, '');
  const runtime = writeRuntimeWrapper(dir, { root: runtimeRoot, callLog });
  const global = [
    '--root',
    path.join(dir, 'root'),
    '--runroot',
    path.join(dir, 'rr'),
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
  ];
  const podman = (args: string[], opts: CommandOptions = {}) =>
    runClient('podman', [...global, ...args], opts);
  return {
    dir,
    runtime,
    runtimeRoot,
    callLog,
    podman,
    runFlags: [
      '--network',
      'none',
      // Below the engine parent (podman refuses a "*.slice" parent with cgroupfs); the leak
      // guard takes a dir named "tsrunc" for a parent too.
      '--cgroup-parent',
      `${engineCgroupParent()}/tsrunc`,
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
