// A container's status, from its record, its lock, its init and its cgroups.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { cgroupsOf } from '../cgroups';
import {
  type ContainerRecord,
  EXEC_FIFO,
  type OciState,
  ociState,
  processAlive,
  stateDir,
  type Status,
} from '../state/store';
import type { RuntimeContext } from './context';

export interface StatusOptions {
  /** The caller holds the container's lock: a `creating` record is then a create that died. */
  lockHeld?: boolean;
}

export async function containerStatus(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  opts: StatusOptions = {},
): Promise<Status> {
  if (rec.phase === 'creating') {
    // In progress while its creator holds the lock; the kernel dropped it if the creator died.
    return !opts.lockHeld && ctx.locks.isHeld(ctx.root, rec.id) ? 'creating' : 'stopped';
  }
  if (!processAlive(rec.initPid, rec.initStartTime)) return 'stopped';
  if (await cgroupsFrozen(rec)) return 'paused';
  // The init blocks on the exec fifo until `start` opens it and removes it.
  if (fs.existsSync(path.join(stateDir(ctx.root, rec.id), EXEC_FIFO))) return 'created';
  return 'running';
}

export async function containerState(
  ctx: RuntimeContext,
  rec: ContainerRecord,
  opts: StatusOptions = {},
): Promise<OciState> {
  return ociState(rec, await containerStatus(ctx, rec, opts));
}

// Paused is the freezer's state of the container's cgroups.
async function cgroupsFrozen(rec: ContainerRecord): Promise<boolean> {
  try {
    return (await cgroupsOf(rec)?.isFrozen()) ?? false;
  } catch {
    return false; // its cgroups are gone: not paused
  }
}
