// cgroup v1 freezer (runc libcontainer/cgroups/fs/freezer.go). No resource fields: pause and
// resume call freeze()/thaw(). Writing FROZEN to freezer.state starts freezing; the state reads
// FREEZING until every task has stopped, and a cgroup v1 may stay FREEZING while new tasks keep
// arriving (fork, exec joining). So, as runc does: write FROZEN again and re-read, now and then
// thaw and sleep a little to let a forking task settle, give up after a timeout and thaw back
// (a half-frozen container is the worst state to leave).
import { RuntimeError } from '../../errors';
import { readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { Controller } from '../types';
import { sleep } from './common';

export type FreezerState = 'THAWED' | 'FREEZING' | 'FROZEN';

export const FREEZE_TIMEOUT_MS = 10_000;
const POLL_MS = 1;
/** Every this many attempts, thaw and sleep (runc: every 50th of its 1000 attempts). */
const THAW_EVERY = 50;
const THAW_SLEEP_MS = 10;

export const freezerController: Controller = {
  name: 'freezer',

  apply(): void {
    // Nothing in linux.resources belongs to the freezer.
  },
};

function readState(dir: string): string {
  const state = readCgroupFileOrNull(dir, 'freezer.state');
  if (state === null) throw new RuntimeError(`cgroup: freezer not supported: no freezer.state in ${dir}`);
  return state;
}

/** Freeze every task of the cgroup (and its descendants); returns once freezer.state is FROZEN. */
export async function freeze(dir: string, timeoutMs = FREEZE_TIMEOUT_MS): Promise<void> {
  readState(dir); // a clear error when there is no freezer here
  const deadline = Date.now() + timeoutMs;
  let state = '';
  for (let attempt = 1; ; attempt++) {
    if (attempt % THAW_EVERY === 0) {
      writeCgroupFile(dir, 'freezer.state', 'THAWED');
      await sleep(THAW_SLEEP_MS);
    }
    writeCgroupFile(dir, 'freezer.state', 'FROZEN');
    state = readState(dir);
    if (state === 'FROZEN') return;
    if (state !== 'FREEZING') {
      thawQuietly(dir);
      throw new RuntimeError(`cgroup: unexpected freezer state ${state} in ${dir} after writing FROZEN`);
    }
    if (Date.now() >= deadline) break;
    await sleep(POLL_MS);
  }
  thawQuietly(dir);
  throw new RuntimeError(
    `cgroup: timed out after ${timeoutMs} ms waiting for ${dir} to freeze (freezer.state: ${state})`,
  );
}

/** Thaw the cgroup; returns once freezer.state reads THAWED. */
export async function thaw(dir: string, timeoutMs = FREEZE_TIMEOUT_MS): Promise<void> {
  writeCgroupFile(dir, 'freezer.state', 'THAWED');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = readState(dir);
    if (state === 'THAWED') return;
    if (Date.now() >= deadline) {
      // A frozen ancestor keeps its descendants FROZEN whatever they are told.
      throw new RuntimeError(
        `cgroup: timed out after ${timeoutMs} ms waiting for ${dir} to thaw (freezer.state: ${state}; is a parent cgroup frozen?)`,
      );
    }
    await sleep(POLL_MS);
  }
}

/**
 * The container's own freezer state. FREEZING is waited out (briefly) for a stable answer.
 * FROZEN only counts when the cgroup itself was frozen (freezer.self_freezing 1): a cgroup
 * frozen through an ancestor reports THAWED, as runc does, since `resume` could not undo it.
 */
export async function freezerState(dir: string, timeoutMs = FREEZE_TIMEOUT_MS): Promise<FreezerState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = readState(dir);
    if (state === 'THAWED') return 'THAWED';
    if (state === 'FROZEN') {
      const self = readCgroupFileOrNull(dir, 'freezer.self_freezing');
      return self === null || self === '1' ? 'FROZEN' : 'THAWED';
    }
    if (Date.now() >= deadline) return 'FREEZING';
    await sleep(POLL_MS);
  }
}

function thawQuietly(dir: string): void {
  try {
    writeCgroupFile(dir, 'freezer.state', 'THAWED');
  } catch {
    // the caller's error says what matters
  }
}
