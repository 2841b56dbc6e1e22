// `start`: release a created container's init from the exec fifo so it execs the process.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Spec } from '../spec/types';
import { logger } from '../util/log';
import {
  type ContainerRecord,
  containerStatus,
  EXEC_FIFO,
  processAlive,
  readRecord,
  stateDir,
} from '../state/store';
import { RuntimeError } from './errors';
import { hookState, runHooks } from './hooks';
import { stopContainer } from './lifecycle';
import type { GlobalOptions } from './options';

const FIFO_WAIT_MS = 10_000;
const ALREADY_RUNNING = 'cannot start an already running container';

export async function start(g: GlobalOptions, id: string): Promise<void> {
  const record = readRecord(g.root, id);
  const status = containerStatus(g.root, record);
  if (status === 'stopped') throw new RuntimeError('cannot start a container that has stopped');
  if (status === 'running') throw new RuntimeError(ALREADY_RUNNING);
  if (status !== 'created') throw new RuntimeError(`cannot start a container in the ${status} state`);

  const hooks = (record.config as Spec).hooks ?? {};
  try {
    // startContainer hooks run in the container, after pivot_root, before the process execs.
    await runHooks('startContainer', hooks.startContainer, hookState(record, 'created', record.initPid), {
      enterPid: record.initPid,
      enterRoot: true,
    });
  } catch (error) {
    // The init must not run the process after a failed hook: the container is stopped.
    killInit(record);
    throw error;
  }
  releaseInit(g, record);
  try {
    await runHooks('poststart', hooks.poststart, hookState(record, 'running', record.initPid), {});
  } catch (error) {
    // The runtime-spec (lifecycle step 9): a failing poststart hook is an error and stops the
    // container. The rest of the lifecycle (destroy, poststop hooks) is left to `delete`.
    await stopContainer(record).catch((stopError: unknown) =>
      logger().error(`cannot stop the container: ${(stopError as Error).message}`),
    );
    throw error;
  }
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
// it writes tells us it passed. A reader open with O_NONBLOCK never blocks on a dead init.
function releaseInit(g: GlobalOptions, record: ContainerRecord): void {
  const fifoPath = path.join(stateDir(g.root, record.id), EXEC_FIFO);
  let fd: number;
  try {
    fd = fs.openSync(fifoPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    // A concurrent `start` took the byte and removed the fifo since we read the state.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RuntimeError(ALREADY_RUNNING);
    throw error;
  }
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
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
      // Another `start` read the init's byte first (and removed the fifo): it released the init.
      if (!fs.existsSync(fifoPath)) {
        if (readByte() > 0) break;
        throw new RuntimeError(ALREADY_RUNNING);
      }
      if (Date.now() > deadline) throw new RuntimeError('timed out waiting for the container init to start');
      Atomics.wait(sleeper, 0, 0, 1);
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(fifoPath, { force: true });
}
