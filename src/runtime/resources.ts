// The commands that work on a container's cgroups: ps, pause, resume, update, events.
import { type CgroupManager, cgroupsOf } from '../cgroups';
import type { Stats } from '../cgroups/types';
import type { LinuxResources, Spec } from '../spec/types';
import { type ContainerRecord, readRecord, writeRecord } from '../state/store';
import { CONTAINER_NOT_RUNNING, RuntimeError } from '../errors';
import type { RuntimeContext } from './context';
import { withContainerLock } from './lifecycle';
import { containerStatus } from './status';

function cgroupsOfContainer(rec: ContainerRecord): CgroupManager {
  const cgroups = cgroupsOf(rec);
  if (!cgroups) throw new RuntimeError(`container ${rec.id} has no cgroups`);
  return cgroups;
}

/** Host pids of every process in the container. */
export async function ps(ctx: RuntimeContext, id: string): Promise<number[]> {
  const rec = readRecord(ctx.root, id);
  if ((await containerStatus(ctx, rec)) === 'stopped') return [];
  return cgroupsOfContainer(rec)
    .pids()
    .sort((a, b) => a - b);
}

export async function pause(ctx: RuntimeContext, id: string): Promise<void> {
  await withContainerLock(ctx, id, async () => {
    const rec = readRecord(ctx.root, id);
    const status = await containerStatus(ctx, rec, { lockHeld: true });
    if (status !== 'running' && status !== 'created') throw new RuntimeError(CONTAINER_NOT_RUNNING);
    await cgroupsOfContainer(rec).freeze();
  });
}

export async function resume(ctx: RuntimeContext, id: string): Promise<void> {
  await withContainerLock(ctx, id, async () => {
    const rec = readRecord(ctx.root, id);
    if ((await containerStatus(ctx, rec, { lockHeld: true })) !== 'paused')
      throw new RuntimeError('container not paused');
    await cgroupsOfContainer(rec).thaw();
  });
}

/**
 * Apply new limits to a live container and keep them in its record, so a later update starts
 * from them. Fields not given stay as they are.
 */
export async function update(ctx: RuntimeContext, id: string, changes: LinuxResources): Promise<void> {
  // Locked: the record's read-modify-write must not interleave with another update or a delete.
  await withContainerLock(ctx, id, async () => {
    const rec = readRecord(ctx.root, id);
    if ((await containerStatus(ctx, rec, { lockHeld: true })) === 'stopped')
      throw new RuntimeError(CONTAINER_NOT_RUNNING);
    const cgroups = cgroupsOfContainer(rec);
    cgroups.apply(changes, { update: true, warn: (m) => ctx.logger.warn(m) });
    const config = (rec.config ?? {}) as Spec;
    const linux = (config.linux ??= {});
    linux.resources = mergeResources(linux.resources ?? {}, changes);
    rec.config = config;
    await writeRecord(ctx.root, rec);
  });
}

export function mergeResources(current: LinuxResources, changes: LinuxResources): LinuxResources {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(changes)) {
    const old = merged[key];
    const bothObjects = isPlainObject(old) && isPlainObject(value);
    merged[key] = bothObjects ? { ...(old as object), ...(value as object) } : value;
  }
  return merged as LinuxResources;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface StatsEvent {
  type: 'stats';
  id: string;
  data: Stats;
}

export async function stats(ctx: RuntimeContext, id: string): Promise<StatsEvent> {
  const rec = readRecord(ctx.root, id);
  if ((await containerStatus(ctx, rec)) === 'stopped') throw new RuntimeError(CONTAINER_NOT_RUNNING);
  return { type: 'stats', id, data: cgroupsOfContainer(rec).stats() };
}

export type ContainerEvent = StatsEvent | { type: 'oom'; id: string };

/**
 * A reader of how many processes of the container the kernel has OOM-killed so far (v1
 * memory.oom_control oom_kill, v2 memory.events oom_kill), its cgroup looked up once: cheap
 * enough to call every second for hundreds of containers. Once the cgroup is gone it keeps
 * answering the last count.
 */
export function oomCounter(ctx: RuntimeContext, id: string): () => number {
  const cgroups = cgroupsOfContainer(readRecord(ctx.root, id));
  let last = 0;
  return () => {
    try {
      last = Math.max(last, cgroups.oomKills());
    } catch {
      // Removed with the container.
    }
    return last;
  };
}

/**
 * `events`: a stats event every interval, and an `oom` event whenever the kernel OOM-kills a
 * process of the container; ends when the container stops.
 */
export async function watchEvents(
  ctx: RuntimeContext,
  id: string,
  intervalMs: number,
  emit: (event: ContainerEvent) => void,
): Promise<void> {
  const rec = readRecord(ctx.root, id);
  const cgroups = cgroupsOfContainer(rec);
  let ooms = cgroups.oomKills();
  let nextStats = 0;
  const tick = Math.min(intervalMs, 100);
  while ((await containerStatus(ctx, readRecordOrNull(ctx, id) ?? rec)) !== 'stopped') {
    const now = cgroups.oomKills();
    for (; ooms < now; ooms++) emit({ type: 'oom', id });
    if (Date.now() >= nextStats) {
      emit({ type: 'stats', id, data: cgroups.stats() });
      nextStats = Date.now() + intervalMs;
    }
    await new Promise((resolve) => setTimeout(resolve, tick));
  }
  for (let now = cgroups.oomKills(); ooms < now; ooms++) emit({ type: 'oom', id });
}

function readRecordOrNull(ctx: RuntimeContext, id: string): ContainerRecord | null {
  try {
    return readRecord(ctx.root, id);
  } catch {
    return null;
  }
}
