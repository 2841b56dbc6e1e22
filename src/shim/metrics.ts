// The Stats RPC's payload: the library's stats document (runc's `events --stats` shape) as the
// cgroups metrics containerd decodes: io.containerd.cgroups.v1.Metrics on a v1 or hybrid host,
// io.containerd.cgroups.v2.Metrics on a unified one (what containerd's runc shim sends there).
// `ctr task metrics` reads memory.usage.{usage,limit}, total_cache, cpu.usage.{total,per_cpu}
// and pids on v1 without checking that usage is set: memory and cpu always carry it.
import type { BlkioEntry, MemoryEntry, Stats } from '../cgroups/types';
import { UNLIMITED } from '../cgroups/v2/common';
import type { generated } from './proto';
import { metricsV1, metricsV2 } from './proto';

type V1 = generated.io.containerd.cgroups.v1.Metrics.$Properties;
type V1Memory = generated.io.containerd.cgroups.v1.MemoryStat.$Properties;
type V1Blkio = generated.io.containerd.cgroups.v1.BlkIOStat.$Properties;
type V1BlkioEntry = generated.io.containerd.cgroups.v1.BlkIOEntry.$Properties;
type V1MemoryEntry = generated.io.containerd.cgroups.v1.MemoryEntry.$Properties;
type V2 = generated.io.containerd.cgroups.v2.Metrics.$Properties;
type V2Memory = generated.io.containerd.cgroups.v2.MemoryStat.$Properties;
type V2IOEntry = generated.io.containerd.cgroups.v2.IOEntry.$Properties;

export const METRICS_V1_TYPE_URL = 'io.containerd.cgroups.v1.Metrics';
export const METRICS_V2_TYPE_URL = 'io.containerd.cgroups.v2.Metrics';

// The library reads a limit too big for a JS number as UNLIMITED (2^53-1). On the wire "no
// limit" is what the kernel or containerd says instead:
//  - v1: the kernel's value, PAGE_COUNTER_MAX pages: 2^63 - 4096 with 4 KiB pages (exact as a
//    double), what containerd's runc shim reports on this kind of host;
//  - v2: containerd reads "max" as 2^64-1, which no JS number holds: protobufjs writes a uint64
//    from a {low, high} pair as is, so that is what goes in place of the number.
const V1_UNLIMITED = 2 ** 63 - 4096;
const V2_UNLIMITED = { low: 0xffffffff, high: 0xffffffff, unsigned: true } as unknown as number;

function v1Limit(value: number | undefined): number | undefined {
  return value === UNLIMITED ? V1_UNLIMITED : value;
}

function v2Limit(value: number | undefined): number | undefined {
  return value === UNLIMITED ? V2_UNLIMITED : value;
}

/** "pgpgin" -> "pgPgIn": the memory.stat keys whose v1 field names are not just camelCase. */
const V1_MEMORY_RENAMES: Record<string, string> = {
  pgpgin: 'pgPgIn',
  pgpgout: 'pgPgOut',
  pgfault: 'pgFault',
  pgmajfault: 'pgMajFault',
  hierarchical_memsw_limit: 'hierarchicalSwapLimit',
};

/** memory.stat keys of v1 that have a field, each also as total_<key> (with its children). */
const V1_MEMORY_KEYS = [
  'cache',
  'rss',
  'rss_huge',
  'mapped_file',
  'dirty',
  'writeback',
  'pgpgin',
  'pgpgout',
  'pgfault',
  'pgmajfault',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
];

const V1_LIMIT_KEYS = ['hierarchical_memory_limit', 'hierarchical_memsw_limit'];

function camelCase(key: string): string {
  return key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function v1FieldOf(key: string): string {
  const total = key.startsWith('total_');
  const base = total ? key.slice('total_'.length) : key;
  const name = V1_MEMORY_RENAMES[base] ?? camelCase(base);
  return total ? `total${name[0].toUpperCase()}${name.slice(1)}` : name;
}

function v1MemoryEntry(entry: MemoryEntry | undefined): V1MemoryEntry {
  if (!entry) return {};
  return { limit: v1Limit(entry.limit), usage: entry.usage, max: entry.max, failcnt: entry.failcnt };
}

function v1Memory(memory: NonNullable<Stats['memory']>): V1Memory {
  const raw = memory.raw ?? {};
  const out: Record<string, unknown> = {};
  for (const key of [...V1_MEMORY_KEYS, ...V1_MEMORY_KEYS.map((k) => `total_${k}`)]) {
    if (raw[key] !== undefined) out[v1FieldOf(key)] = raw[key];
  }
  for (const key of V1_LIMIT_KEYS) {
    if (raw[key] !== undefined) out[v1FieldOf(key)] = v1Limit(raw[key]);
  }
  // The library's cache is memory.stat's (0 when absent): only when raw has none.
  if (out.cache === undefined && memory.cache !== undefined) out.cache = memory.cache;
  return {
    ...(out as V1Memory),
    usage: v1MemoryEntry(memory.usage),
    swap: v1MemoryEntry(memory.swap),
    kernel: v1MemoryEntry(memory.kernel),
    kernelTcp: v1MemoryEntry(memory.kernelTCP),
  };
}

/** The library's blkio keys (runc's JSON names) -> the v1 BlkIOStat fields. */
const V1_BLKIO_FIELDS: Record<string, keyof V1Blkio> = {
  ioServiceBytesRecursive: 'ioServiceBytesRecursive',
  ioServicedRecursive: 'ioServicedRecursive',
  ioQueueRecursive: 'ioQueuedRecursive',
  ioServiceTimeRecursive: 'ioServiceTimeRecursive',
  ioWaitTimeRecursive: 'ioWaitTimeRecursive',
  ioMergedRecursive: 'ioMergedRecursive',
  ioTimeRecursive: 'ioTimeRecursive',
  sectorsRecursive: 'sectorsRecursive',
};

function v1Blkio(blkio: Record<string, BlkioEntry[]>): V1Blkio {
  const out: Record<string, V1BlkioEntry[]> = {};
  for (const [key, entries] of Object.entries(blkio)) {
    const field = V1_BLKIO_FIELDS[key];
    if (field === undefined) continue;
    // device (a /dev name) stays empty: the library has only the numbers.
    out[field] = entries.map((e) => ({ op: e.op, major: e.major, minor: e.minor, value: e.value }));
  }
  return out as V1Blkio;
}

function toV1(stats: Stats): V1 {
  const metrics: V1 = {};
  if (stats.hugetlb) {
    metrics.hugetlb = Object.keys(stats.hugetlb)
      .sort()
      .map((pagesize) => {
        const h = stats.hugetlb![pagesize];
        return { pagesize, usage: h.usage, max: h.max, failcnt: h.failcnt };
      });
  }
  if (stats.pids) metrics.pids = { current: stats.pids.current, limit: stats.pids.limit };
  if (stats.cpu) {
    const { usage, throttling } = stats.cpu;
    metrics.cpu = {
      usage: { total: usage?.total, kernel: usage?.kernel, user: usage?.user, perCpu: usage?.percpu ?? [] },
      throttling: {
        periods: throttling?.periods,
        throttledPeriods: throttling?.throttled_periods,
        throttledTime: throttling?.throttled_time,
      },
    };
  }
  if (stats.memory) metrics.memory = v1Memory(stats.memory);
  if (stats.blkio) metrics.blkio = v1Blkio(stats.blkio);
  return metrics;
}

/** v2 memory.stat keys, each the snake_case of its MemoryStat field. */
const V2_MEMORY_KEYS = [
  'anon',
  'file',
  'kernel_stack',
  'slab',
  'sock',
  'shmem',
  'file_mapped',
  'file_dirty',
  'file_writeback',
  'anon_thp',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
  'slab_reclaimable',
  'slab_unreclaimable',
  'pgfault',
  'pgmajfault',
  'workingset_refault',
  'workingset_activate',
  'workingset_nodereclaim',
  'pgrefill',
  'pgscan',
  'pgsteal',
  'pgactivate',
  'pgdeactivate',
  'pglazyfree',
  'pglazyfreed',
  'thp_fault_alloc',
  'thp_collapse_alloc',
];

function v2Memory(memory: NonNullable<Stats['memory']>): V2Memory {
  const raw = memory.raw ?? {};
  const out: Record<string, unknown> = {};
  for (const key of V2_MEMORY_KEYS) {
    let value = raw[key];
    // Linux 5.9 split workingset_* into _anon and _file: their sum is the old counter.
    if (value === undefined && (raw[`${key}_anon`] !== undefined || raw[`${key}_file`] !== undefined)) {
      value = (raw[`${key}_anon`] ?? 0) + (raw[`${key}_file`] ?? 0);
    }
    if (value !== undefined) out[camelCase(key)] = value;
  }
  const result = out as V2Memory;
  const usage = memory.usage;
  if (usage) {
    result.usage = usage.usage;
    result.usageLimit = v2Limit(usage.limit);
  }
  // The library reports swap as v1 does, memory plus swap; v2's fields are swap alone.
  const swap = memory.swap;
  if (swap) {
    const memoryUsage = usage?.usage ?? 0;
    result.swapUsage = Math.max((swap.usage ?? 0) - memoryUsage, 0);
    if (swap.limit === UNLIMITED || usage?.limit === undefined || usage.limit === UNLIMITED) {
      result.swapLimit = V2_UNLIMITED;
    } else if (swap.limit !== undefined) {
      result.swapLimit = Math.max(swap.limit - usage.limit, 0);
    }
  }
  return result;
}

function v2Io(blkio: Record<string, BlkioEntry[]>): V2IOEntry[] {
  const devices = new Map<string, V2IOEntry>();
  const add = (entries: BlkioEntry[] | undefined, read: keyof V2IOEntry, write: keyof V2IOEntry) => {
    for (const e of entries ?? []) {
      const key = `${e.major}:${e.minor}`;
      let device = devices.get(key);
      if (!device) devices.set(key, (device = { major: e.major, minor: e.minor }));
      if (e.op === 'Read') (device as Record<string, unknown>)[read] = e.value;
      else if (e.op === 'Write') (device as Record<string, unknown>)[write] = e.value;
    }
  };
  add(blkio.ioServiceBytesRecursive, 'rbytes', 'wbytes');
  add(blkio.ioServicedRecursive, 'rios', 'wios');
  return [...devices.values()];
}

function toV2(stats: Stats): V2 {
  const metrics: V2 = {};
  if (stats.pids) metrics.pids = { current: stats.pids.current, limit: stats.pids.limit };
  if (stats.cpu) {
    // The library has nanoseconds (runc's shape), read from cpu.stat's microseconds.
    const usec = (ns: number | undefined) => (ns === undefined ? undefined : Math.round(ns / 1000));
    const { usage, throttling } = stats.cpu;
    metrics.cpu = {
      usageUsec: usec(usage?.total),
      userUsec: usec(usage?.user),
      systemUsec: usec(usage?.kernel),
      nrPeriods: throttling?.periods,
      nrThrottled: throttling?.throttled_periods,
      throttledUsec: usec(throttling?.throttled_time),
    };
  }
  if (stats.memory) {
    metrics.memory = v2Memory(stats.memory);
    // memory.events' max is all of it the library keeps (as the usage's failcnt).
    const failcnt = stats.memory.usage?.failcnt;
    if (failcnt !== undefined) metrics.memoryEvents = { max: failcnt };
  }
  if (stats.blkio) metrics.io = { usage: v2Io(stats.blkio) };
  if (stats.hugetlb) {
    // v2's max is the limit (hugetlb.<size>.max), which the library's stats do not have.
    metrics.hugetlb = Object.keys(stats.hugetlb)
      .sort()
      .map((pagesize) => ({ pagesize, current: stats.hugetlb![pagesize].usage }));
  }
  return metrics;
}

/** The Stats RPC's Any: type_url io.containerd.cgroups.v1.Metrics (v1/hybrid host) or
 *  io.containerd.cgroups.v2.Metrics (unified host). */
export function metricsAny(stats: Stats, unified: boolean): { typeUrl: string; value: Uint8Array } {
  if (unified) return { typeUrl: METRICS_V2_TYPE_URL, value: metricsV2.Metrics.encode(toV2(stats)).finish() };
  return { typeUrl: METRICS_V1_TYPE_URL, value: metricsV1.Metrics.encode(toV1(stats)).finish() };
}
