// cgroup v2 memory controller: memory.max, memory.low, memory.swap.max; stats from
// memory.current/max/peak, memory.stat, memory.swap.*, memory.events (runc fs2/memory.go).
//
// The spec's fields are v1's. Decisions for those v2 has no file for:
//   - kernel, kernelTCP: ignored (deprecated by the runtime spec, kmem limits are gone from
//     recent kernels; runc ignores them on v2 too);
//   - swappiness: ignored (v2 has no per-cgroup swappiness; the spec's own example config sets
//     0, runc and crun ignore it on v2, docker and podman drop it before calling the runtime);
//   - useHierarchy: ignored (v2 is always hierarchical);
//   - disableOOMKiller true: an error (v2 cannot turn the OOM killer off, and silently running a
//     container that asked not to be OOM-killed would be worse; crun refuses it too).
import { RuntimeError } from '../../errors';
import type { LinuxMemory, LinuxResources } from '../../spec/types';
import { cgroupFileExists, readKeyValues, writeCgroupFile } from '../fs';
import type { ApplyContext, Controller, MemoryEntry, Stats } from '../types';
import { UNLIMITED, readLimit, resourceError, unsupportedOnV2 } from './common';

/** The v2 file value of a v1 memory number: 0 -> not set, -1 -> "max". */
function memoryValue(value: number | undefined): string | null {
  if (value === undefined || value === 0) return null;
  if (value === -1) return 'max';
  return String(value);
}

/**
 * memory.swap.max from the spec's swap, which (as v1's memsw) counts memory plus swap:
 * swap - limit; -1 stays -1 ("max"); 0 is "not set", except that an unlimited memory with
 * no swap given means unlimited swap too (runc's ConvertMemorySwapToCgroupV2Value).
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): number {
  const s = swap ?? 0;
  const m = limit ?? 0;
  if (m === -1 && s === 0) return -1;
  if (s === -1 || s === 0) return s;
  if (m === 0 || m === -1)
    throw resourceError('memory.swap', 'unable to set swap limit without memory limit');
  if (m < 0) throw resourceError('memory.limit', `invalid memory value: ${m}`);
  if (s < m) throw resourceError('memory.swap', `memory+swap limit (${s}) should be >= memory limit (${m})`);
  return s - m;
}

function checkUnsupported(memory: LinuxMemory): void {
  if (memory.disableOOMKiller === true) {
    throw unsupportedOnV2('memory.disableOOMKiller', 'the OOM killer cannot be disabled for a cgroup');
  }
}

export const memoryV2: Controller = {
  name: 'memory',

  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void {
    const memory = resources.memory;
    if (!memory) return;
    checkUnsupported(memory);
    const { limit, reservation, swap } = memory;
    if (!limit && !reservation && !swap) return;

    if (ctx.update && memory.checkBeforeUpdate === true && limit !== undefined && limit > 0) {
      const usage = readLimit(dir, 'memory.current');
      if (usage !== undefined && usage >= limit) {
        throw new RuntimeError(`rejecting memory limit ${limit} below usage ${usage}`);
      }
    }

    const swapValue = swapToV2(swap, limit);
    // 0 from swap == limit means "no swap" and is written; 0 from "swap not given" is not.
    let swapText = memoryValue(swapValue);
    if (swapText === null && swapValue === 0 && swap !== undefined && swap > 0) swapText = '0';
    if (swapText !== null) {
      if (cgroupFileExists(dir, 'memory.swap.max')) {
        writeCgroupFile(dir, 'memory.swap.max', swapText);
      } else if (swapText !== 'max' && swapText !== '0') {
        // Without swap accounting there is no file; "no limit" and "no swap" are then moot.
        throw resourceError(
          'memory.swap',
          'swap limit not supported (no memory.swap.max: swap accounting is off)',
        );
      }
    }

    const limitText = memoryValue(limit);
    if (limitText !== null) writeCgroupFile(dir, 'memory.max', limitText);
    const lowText = memoryValue(reservation);
    if (lowText !== null) writeCgroupFile(dir, 'memory.low', lowText);
  },

  stats(dir: string, stats: Stats): void {
    const current = readLimit(dir, 'memory.current');
    if (current === undefined) return;
    const raw = readKeyValues(dir, 'memory.stat');
    const usage: MemoryEntry = {
      usage: current,
      limit: readLimit(dir, 'memory.max') ?? UNLIMITED,
      max: readLimit(dir, 'memory.peak') ?? 0,
      failcnt: readKeyValues(dir, 'memory.events').max ?? 0,
    };
    const memory: NonNullable<Stats['memory']> = { cache: raw.file ?? 0, usage, raw };

    const swapCurrent = readLimit(dir, 'memory.swap.current');
    if (swapCurrent !== undefined) {
      // v1 reports memory+swap; v2 swap alone: add memory back (runc does the same), and
      // there is no max of the sum.
      const swapMax = readLimit(dir, 'memory.swap.max') ?? UNLIMITED;
      const memoryMax = usage.limit ?? UNLIMITED;
      memory.swap = {
        usage: swapCurrent + current,
        limit: swapMax === UNLIMITED || memoryMax === UNLIMITED ? UNLIMITED : swapMax + memoryMax,
        max: 0,
        failcnt: readKeyValues(dir, 'memory.swap.events').max ?? 0,
      };
    }
    stats.memory = memory;
  },
};
