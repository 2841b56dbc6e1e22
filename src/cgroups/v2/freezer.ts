// cgroup v2 freezer: cgroup.freeze ("1" freeze, "0" thaw) and the state the kernel reached in
// cgroup.events ("frozen 1" / "frozen 0"). Freezing takes effect asynchronously: poll until the
// kernel reports it, like runc's waitFrozen (10 ms steps, 10 s in all).
import { RuntimeError } from '../../errors';
import { cgroupFileExists, readKeyValues, writeCgroupFile } from '../fs';
import { sleep } from './common';

export const FREEZE_TIMEOUT_MS = 10_000;
const POLL_MS = 10;

/** Freeze every process of the cgroup (and its descendants); returns once they all are. */
export async function freeze(dir: string, timeoutMs = FREEZE_TIMEOUT_MS): Promise<void> {
  if (!cgroupFileExists(dir, 'cgroup.freeze')) {
    throw new RuntimeError(`cgroup: freezer not supported: no cgroup.freeze in ${dir}`);
  }
  writeCgroupFile(dir, 'cgroup.freeze', '1');
  if (!(await waitFrozen(dir, true, timeoutMs))) {
    // Do not leave a half-frozen container behind.
    try {
      writeCgroupFile(dir, 'cgroup.freeze', '0');
    } catch {
      // the error below says what matters
    }
    throw new RuntimeError(
      `cgroup: timed out after ${timeoutMs} ms waiting for ${dir} to freeze (cgroup.events: frozen 0)`,
    );
  }
}

/** Thaw the cgroup; nothing to do without cgroup.freeze (nothing can have frozen it). */
export async function thaw(dir: string, timeoutMs = FREEZE_TIMEOUT_MS): Promise<void> {
  if (!cgroupFileExists(dir, 'cgroup.freeze')) return;
  writeCgroupFile(dir, 'cgroup.freeze', '0');
  if (!(await waitFrozen(dir, false, timeoutMs))) {
    throw new RuntimeError(
      `cgroup: timed out after ${timeoutMs} ms waiting for ${dir} to thaw (cgroup.events: frozen 1)`,
    );
  }
}

/** The state the kernel reached: cgroup.events says "frozen 1". */
export function isFrozen(dir: string): boolean {
  return readKeyValues(dir, 'cgroup.events').frozen === 1;
}

async function waitFrozen(dir: string, want: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (isFrozen(dir) === want) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
}
