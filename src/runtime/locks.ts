// Per-container locks: an exclusive flock(2) on the container's state directory, held for the
// whole of an operation that changes the container (create, start, kill, delete, pause, resume,
// update, the set-up of exec). flock locks belong to an open file description, so two
// operations conflict whether they run in two processes (the CLI and a shim on one --root) or
// in one; the kernel drops the lock when its holder dies, so a create that was killed leaves no
// lock behind, only a record `delete --force` can clean up.
//
// "Being created" is this lock too: create takes it on the state dir before the dir gets its
// name and keeps it until it is done, so a record in phase `creating` whose lock is free is a
// create that died.
//
// Read-only operations (state, list, ps, events) do not wait for it: the record is written
// atomically (rename), so they always read a whole one. In one process, waiters queue in order
// instead of polling each other.
import * as fs from 'node:fs';

import { CONTAINER_NOT_EXIST, RuntimeError } from '../errors';
import type { NativeBinding } from '../native';
import { stateDir } from '../state/store';

const RETRY_FIRST_MS = 2;
const RETRY_MAX_MS = 50;

export interface ContainerLock {
  readonly id: string;
  release(): void;
}

export interface LockOptions {
  /** How long to wait for another holder; the error then says the container is busy. */
  timeoutMs: number;
  /** The message when the wait times out (default: the container is busy). */
  busyMessage?: string;
}

export class ContainerLocks {
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly binding: () => NativeBinding) {}

  private get native(): NativeBinding {
    return this.binding();
  }

  /** Take the lock of `root/id`; throws CONTAINER_NOT_EXIST when there is no such container
   *  (also when it was deleted while we waited). */
  async acquire(root: string, id: string, opts: LockOptions): Promise<ContainerLock> {
    const key = stateDir(root, id);
    const previous = this.queues.get(key) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    const tail = previous.then(() => mine);
    this.queues.set(key, tail);
    const leave = (): void => {
      done();
      if (this.queues.get(key) === tail) this.queues.delete(key);
    };
    // One deadline for the whole wait: the queue in this process, then the flock.
    const deadline = Date.now() + opts.timeoutMs;
    try {
      await withTimeout(previous, opts.timeoutMs, () => busyError(id, opts));
      const fd = await this.flockDir(key, id, opts, deadline);
      let released = false;
      return {
        id,
        release: () => {
          if (released) return;
          released = true;
          try {
            this.native.closeFd(fd); // closing the only fd of the description drops the flock
          } finally {
            leave();
          }
        },
      };
    } catch (error) {
      leave();
      throw error;
    }
  }

  /** Lock a directory that is not yet a container's (create's staging dir): never contended. */
  lockNewDir(dir: string, id: string): ContainerLock {
    const fd = this.native.openDirectory(dir);
    if (!this.native.tryFlock(fd, true)) {
      this.native.closeFd(fd);
      throw new RuntimeError(`cannot lock the new state dir of ${id}`);
    }
    return { id, release: () => this.native.closeFd(fd) };
  }

  /** True while some operation (in any process) holds the lock of `root/id`. */
  isHeld(root: string, id: string): boolean {
    let fd: number;
    try {
      fd = this.native.openDirectory(stateDir(root, id));
    } catch {
      return false;
    }
    try {
      const free = this.native.tryFlock(fd, false);
      return !free;
    } finally {
      this.native.closeFd(fd); // drops the shared lock taken by the probe
    }
  }

  private async flockDir(dir: string, id: string, opts: LockOptions, deadline: number): Promise<number> {
    let pause = RETRY_FIRST_MS;
    for (;;) {
      let fd: number;
      try {
        fd = this.native.openDirectory(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new RuntimeError(CONTAINER_NOT_EXIST);
        throw error;
      }
      if (this.native.tryFlock(fd, true)) {
        // The holder we waited for may have been `delete` (and a create may have made the id
        // again): the dir we locked is then not the one at the container's path. Look again.
        if (sameDirectory(fd, dir)) return fd;
        this.native.closeFd(fd);
        continue;
      }
      this.native.closeFd(fd);
      if (Date.now() >= deadline) throw busyError(id, opts);
      await sleep(pause);
      pause = Math.min(pause * 2, RETRY_MAX_MS);
    }
  }
}

function sameDirectory(fd: number, dir: string): boolean {
  try {
    const held = fs.fstatSync(fd);
    const now = fs.statSync(dir);
    return held.ino === now.ino && held.dev === now.dev;
  } catch {
    return false;
  }
}

function busyError(id: string, opts: LockOptions): RuntimeError {
  return new RuntimeError(
    opts.busyMessage ?? `container ${id} is busy: another operation on it did not finish in time`,
  );
}

async function withTimeout(promise: Promise<void>, ms: number, onTimeout: () => Error): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
