// cgroup v1 memory controller (runc libcontainer/cgroups/fs/memory.go).
//
// Files: memory.limit_in_bytes (limit), memory.memsw.limit_in_bytes (swap: v1 counts memory
// plus swap there), memory.soft_limit_in_bytes (reservation), memory.swappiness,
// memory.oom_control, memory.use_hierarchy, memory.kmem[.tcp].limit_in_bytes.
// As in runc, 0 means "not set" for limit, swap and reservation, and -1 is written as "-1"
// (unlimited).
//
// Decisions:
//   - kernel, kernelTCP: written only when the kmem file exists. Kernels 5.16+ deprecate kmem
//     limits (newer ones drop the files); runc 1.1+ ignores both fields altogether. A set
//     value with no file is skipped silently, as runc would.
//   - disableOOMKiller: only true is written ("1"), as runc does; false leaves the file alone.
//   - useHierarchy: written as given. Recent kernels are always hierarchical and refuse "0"
//     with EINVAL, which then surfaces as the write error (runc ignores the field).
import { RuntimeError } from '../../errors';
import type { LinuxMemory, LinuxResources } from '../../spec/types';
import { cgroupFileExists, readKeyValues, writeCgroupFile } from '../fs';
import type { ApplyContext, Controller, MemoryEntry, Stats } from '../types';
import { clampUint, readUint, resourceError } from './common';

const LIMIT = 'memory.limit_in_bytes';
const MEMSW = 'memory.memsw.limit_in_bytes';
const USAGE = 'memory.usage_in_bytes';
const MAX_USAGE = 'memory.max_usage_in_bytes';

/** memory.limit_in_bytes; the kernel's EBUSY (cannot reclaim below usage) gets runc's message. */
function setLimit(dir: string, limit: number): void {
  if (limit === 0) return;
  try {
    writeCgroupFile(dir, LIMIT, limit);
  } catch (error) {
    const usage = readUint(dir, USAGE);
    if (limit < 0 || usage === undefined || usage < limit) throw error;
    const peak = readUint(dir, MAX_USAGE) ?? 0;
    throw new RuntimeError(
      `unable to set memory limit to ${limit} (current usage: ${usage}, peak usage: ${peak}): ${(error as Error).message}`,
    );
  }
}

function setSwap(dir: string, swap: number): void {
  if (swap === 0) return;
  if (!cgroupFileExists(dir, MEMSW)) {
    // No swap accounting (swapaccount=0): "unlimited" is what the container gets anyway.
    if (swap === -1) return;
    throw resourceError('memory.swap', `swap limit not supported (no ${MEMSW}: swap accounting is off)`);
  }
  writeCgroupFile(dir, MEMSW, swap);
}

/**
 * The kernel keeps limit <= memsw at every moment, so the order of the two writes matters:
 * when the new memsw is at least the current limit (or unlimited), memsw goes first (it may be
 * raising the ceiling the new limit needs); otherwise the limit goes first (it must come down
 * before memsw can).
 */
function setLimitAndSwap(dir: string, memory: LinuxMemory): void {
  const limit = memory.limit ?? 0;
  let swap = memory.swap ?? 0;
  // Unlimited memory with no swap given means unlimited swap too (runc): a leftover memsw
  // limit would otherwise keep capping the memory.
  if (limit === -1 && swap === 0 && cgroupFileExists(dir, MEMSW)) swap = -1;
  if (limit !== 0 && swap !== 0) {
    const current = readUint(dir, LIMIT) ?? 0;
    if (swap === -1 || current < swap) {
      setSwap(dir, swap);
      setLimit(dir, limit);
      return;
    }
  }
  setLimit(dir, limit);
  setSwap(dir, swap);
}

/** `tsrunc update` with checkBeforeUpdate: refuse a limit the container already exceeds. */
function checkBeforeUpdate(dir: string, memory: LinuxMemory, ctx: ApplyContext): void {
  const limit = memory.limit;
  if (!ctx.update || memory.checkBeforeUpdate !== true || limit === undefined || limit <= 0) return;
  const usage = readUint(dir, USAGE);
  if (usage !== undefined && usage >= limit) {
    throw new RuntimeError(`rejecting memory limit ${limit} below usage ${usage}`);
  }
}

/** kmem files: only where the kernel still has them (see the header); say so otherwise. */
function setIfPresent(dir: string, file: string, value: number | undefined, ctx: ApplyContext): void {
  if (value === undefined || value === 0) return;
  if (!cgroupFileExists(dir, file)) {
    ctx.warn?.(`linux.resources.memory: this kernel has no ${file}: kernel memory limit ${value} ignored`);
    return;
  }
  writeCgroupFile(dir, file, value);
}

function setSwappiness(dir: string, swappiness: number | undefined): void {
  // -1 is how runc's callers say "leave the kernel's value".
  if (swappiness === undefined || swappiness === -1) return;
  if (!Number.isInteger(swappiness) || swappiness < 0 || swappiness > 100) {
    throw resourceError(
      'memory.swappiness',
      `invalid memory swappiness value: ${swappiness} (valid range is 0-100)`,
    );
  }
  writeCgroupFile(dir, 'memory.swappiness', swappiness);
}

function setOthers(dir: string, memory: LinuxMemory, ctx: ApplyContext): void {
  if (memory.reservation !== undefined && memory.reservation !== 0) {
    writeCgroupFile(dir, 'memory.soft_limit_in_bytes', memory.reservation);
  }
  setIfPresent(dir, 'memory.kmem.limit_in_bytes', memory.kernel, ctx);
  setIfPresent(dir, 'memory.kmem.tcp.limit_in_bytes', memory.kernelTCP, ctx);
  if (memory.disableOOMKiller === true) writeCgroupFile(dir, 'memory.oom_control', '1');
  if (memory.useHierarchy !== undefined) {
    writeCgroupFile(dir, 'memory.use_hierarchy', memory.useHierarchy ? '1' : '0');
  }
  setSwappiness(dir, memory.swappiness);
}

/** usage/max/failcnt/limit of "memory", "memory.memsw", "memory.kmem", "memory.kmem.tcp". */
function memoryEntry(dir: string, prefix: string): MemoryEntry | undefined {
  const usage = readUint(dir, `${prefix}.usage_in_bytes`);
  // No usage file: that accounting is off (memsw without swapaccount, kmem on new kernels).
  if (usage === undefined) return undefined;
  return {
    usage,
    max: readUint(dir, `${prefix}.max_usage_in_bytes`) ?? 0,
    failcnt: readUint(dir, `${prefix}.failcnt`) ?? 0,
    limit: readUint(dir, `${prefix}.limit_in_bytes`) ?? 0,
  };
}

export const memoryController: Controller = {
  name: 'memory',

  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void {
    const memory = resources.memory;
    if (!memory) return;
    checkBeforeUpdate(dir, memory, ctx);
    setLimitAndSwap(dir, memory);
    setOthers(dir, memory, ctx);
  },

  stats(dir: string, stats: Stats): void {
    if (!cgroupFileExists(dir, 'memory.stat')) return;
    const raw: Record<string, number> = {};
    for (const [key, value] of Object.entries(readKeyValues(dir, 'memory.stat'))) raw[key] = clampUint(value);
    const memory: NonNullable<Stats['memory']> = { cache: raw.cache ?? 0, raw };
    const usage = memoryEntry(dir, 'memory');
    const swap = memoryEntry(dir, 'memory.memsw');
    const kernel = memoryEntry(dir, 'memory.kmem');
    const kernelTCP = memoryEntry(dir, 'memory.kmem.tcp');
    if (usage) memory.usage = usage;
    if (swap) memory.swap = swap;
    if (kernel) memory.kernel = kernel;
    if (kernelTCP) memory.kernelTCP = kernelTCP;
    stats.memory = memory;
  },
};
