// `start`: release a created container's init from the exec fifo so it execs the process.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Process, Spec } from '../spec/types';
import {
  type ContainerRecord,
  EXEC_FIFO,
  processAlive,
  processStartTime,
  readRecord,
  stateDir,
  type Status,
} from '../state/store';
import { RuntimeError } from '../errors';
import type { RuntimeContext } from './context';
import { waitReadable } from './fd-wait';
import { spawnExec } from './exec';
import { type Hook, hookState, runHooks, runHooksSpawned } from './hooks';
import { stopContainer, withContainerLock } from './lifecycle';
import { containerStatus } from './status';

const FIFO_WAIT_MS = 10_000;
const ALREADY_RUNNING = 'cannot start an already running container';

export async function start(ctx: RuntimeContext, id: string): Promise<void> {
  // Answered at once, not after waiting for the lock of a create in progress.
  checkStartable(await containerStatus(ctx, readRecord(ctx.root, id)));
  await withContainerLock(ctx, id, async () => {
    const record = readRecord(ctx.root, id);
    checkStartable(await containerStatus(ctx, record, { lockHeld: true }));

    const hooks = (record.config as Spec).hooks ?? {};
    const debug = (message: string) => ctx.logger.debug(`start ${id}: ${message}`);
    if (hooks.startContainer?.length) debug(`running ${hooks.startContainer.length} startContainer hooks`);
    try {
      // startContainer hooks run in the container before the process execs, as the process
      // would: exec'd with its user, capabilities, no_new_privs and seccomp filter (runc runs
      // them from the init, which has them by then).
      await runHooksSpawned(
        'startContainer',
        hooks.startContainer,
        hookState(record, 'created', record.initPid),
        ctx.native,
        (hook, stdio) =>
          spawnExec(
            ctx,
            record,
            { id: record.id, args: [], process: hookProcess(record, hook), stdio },
            { executable: hook.path, seccompStatus: 'created', exactEnv: hook.env !== undefined },
          ),
      );
    } catch (error) {
      // The init must not run the process after a failed hook: the container is stopped.
      killInit(record);
      throw error;
    }
    debug(`releasing the init (pid ${record.initPid}) from the exec fifo`);
    await releaseInit(ctx, record);
    debug('the process runs');
    try {
      await runHooks('poststart', hooks.poststart, hookState(record, 'running', record.initPid), {});
    } catch (error) {
      // The runtime-spec (lifecycle step 9): a failing poststart hook is an error and stops the
      // container. The rest of the lifecycle (destroy, poststop hooks) is left to `delete`.
      await stopContainer(ctx, record).catch((stopError: unknown) =>
        ctx.logger.error(`cannot stop the container: ${(stopError as Error).message}`),
      );
      throw error;
    }
  });
}

function checkStartable(status: Status): void {
  if (status === 'stopped') throw new RuntimeError('cannot start a container that has stopped');
  if (status === 'running') throw new RuntimeError(ALREADY_RUNNING);
  if (status !== 'created') throw new RuntimeError(`cannot start a container in the ${status} state`);
}

/** A startContainer hook as a process of the container: the container's process (user,
 *  capabilities, rlimits, no_new_privs, cwd) with the hook's argv and exactly its env. */
function hookProcess(record: ContainerRecord, hook: Hook): Process {
  const base: Process = structuredClone((record.config as Spec).process ?? { cwd: '/' });
  delete base.consoleSize;
  delete base.commandLine;
  return {
    ...base,
    terminal: false,
    args: hook.args && hook.args.length > 0 ? hook.args : [hook.path],
    // Without its own env it inherits, as hooks do: here the environment of the container process
    // it runs as (the runtime's own must not reach into the container).
    env: hook.env ?? base.env ?? [],
  };
}

function initAlive(record: ContainerRecord): boolean {
  return processAlive(record.initPid, record.initStartTime);
}

function killInit(record: ContainerRecord): void {
  if (!initAlive(record)) return;
  try {
    process.kill(record.initPid, 'SIGKILL');
  } catch {
    // gone already
  }
}

// The init blocks in open(O_WRONLY) on the fifo; our reader open lets it through, and the byte
// it writes tells us it passed. A reader open with O_NONBLOCK never blocks on a dead init. The
// wait is on the event loop: for the fifo to turn readable, or the init's pidfd (its death).
async function releaseInit(ctx: RuntimeContext, record: ContainerRecord): Promise<void> {
  const fifoPath = path.join(stateDir(ctx.root, record.id), EXEC_FIFO);
  let fd: number;
  try {
    fd = fs.openSync(fifoPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    // A concurrent `start` (of another runtime without our lock) took the byte and removed it.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RuntimeError(ALREADY_RUNNING);
    throw error;
  }
  const initFd = openInitPidfd(ctx, record);
  const buffer = Buffer.alloc(1);
  const deadline = Date.now() + FIFO_WAIT_MS;
  const readByte = (): number => {
    try {
      return fs.readSync(fd, buffer, 0, 1, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      return 0;
    }
  };
  try {
    for (;;) {
      if (readByte() > 0) break;
      // The init may have written, exec'd a short process and exited since that read: only a
      // dead init whose byte is not in the fifo never started.
      if (!initAlive(record)) {
        if (readByte() > 0) break;
        throw new RuntimeError('cannot start a container that has stopped');
      }
      const left = deadline - Date.now();
      const watched = initFd >= 0 ? [fd, initFd] : [fd];
      if (left <= 0 || !(await waitReadable(ctx.native, watched, left))) {
        if (readByte() > 0) break;
        throw new RuntimeError('timed out waiting for the container init to start');
      }
    }
  } finally {
    fs.closeSync(fd);
    if (initFd >= 0) ctx.native.closeFd(initFd);
  }
  fs.rmSync(fifoPath, { force: true });
}

/** A pidfd of the recorded init, or -1 when it is gone (or the pid names another process). */
function openInitPidfd(ctx: RuntimeContext, record: ContainerRecord): number {
  let fd: number;
  try {
    fd = ctx.native.pidfdOpen(record.initPid);
  } catch {
    return -1;
  }
  if (processStartTime(record.initPid) === record.initStartTime) return fd;
  ctx.native.closeFd(fd);
  return -1;
}
