// metricsAny: the library's stats document as the Stats RPC's Any. Each sample is encoded, then
// decoded with the generated decoders, and the fields are checked by their proto names.
import { describe, expect, it } from 'vitest';

import type { Stats } from '../../src/cgroups/types';
import { UNLIMITED } from '../../src/cgroups/v2/common';
import { metricsAny } from '../../src/shim/metrics';
import { metricsV1, metricsV2 } from '../../src/shim/proto';

/** The decoders give 64-bit fields as Long objects: numbers here (a decimal string when a number
 *  would round), everything else as is. */
function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => plain(v)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const long = value as { low?: unknown; high?: unknown; unsigned?: unknown; toString(): string };
    if (typeof long.low === 'number' && typeof long.high === 'number' && typeof long.unsigned === 'boolean') {
      const text = long.toString();
      return (BigInt(text) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(text) : text) as T;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)])) as T;
  }
  return value;
}

/** Without empty lists, as the trace's JSON shows a message (the decoders make every repeated
 *  field an empty array). */
function compact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compact);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, compact(v)]),
  );
}

function decodeV1(stats: Stats) {
  const any = metricsAny(stats, false);
  expect(any.typeUrl).toBe('io.containerd.cgroups.v1.Metrics');
  return plain(metricsV1.Metrics.decode(any.value));
}

function decodeV2(stats: Stats) {
  const any = metricsAny(stats, true);
  expect(any.typeUrl).toBe('io.containerd.cgroups.v2.Metrics');
  return plain(metricsV2.Metrics.decode(any.value));
}

// memory.stat key -> io.containerd.cgroups.v1.MemoryStat field (its proto name in camelCase).
const V1_MEMORY_FIELDS: [string, string][] = [
  ['cache', 'cache'],
  ['rss', 'rss'],
  ['rss_huge', 'rssHuge'],
  ['mapped_file', 'mappedFile'],
  ['dirty', 'dirty'],
  ['writeback', 'writeback'],
  ['pgpgin', 'pgPgIn'],
  ['pgpgout', 'pgPgOut'],
  ['pgfault', 'pgFault'],
  ['pgmajfault', 'pgMajFault'],
  ['inactive_anon', 'inactiveAnon'],
  ['active_anon', 'activeAnon'],
  ['inactive_file', 'inactiveFile'],
  ['active_file', 'activeFile'],
  ['unevictable', 'unevictable'],
  ['hierarchical_memory_limit', 'hierarchicalMemoryLimit'],
  ['hierarchical_memsw_limit', 'hierarchicalSwapLimit'],
  ['total_cache', 'totalCache'],
  ['total_rss', 'totalRss'],
  ['total_rss_huge', 'totalRssHuge'],
  ['total_mapped_file', 'totalMappedFile'],
  ['total_dirty', 'totalDirty'],
  ['total_writeback', 'totalWriteback'],
  ['total_pgpgin', 'totalPgPgIn'],
  ['total_pgpgout', 'totalPgPgOut'],
  ['total_pgfault', 'totalPgFault'],
  ['total_pgmajfault', 'totalPgMajFault'],
  ['total_inactive_anon', 'totalInactiveAnon'],
  ['total_active_anon', 'totalActiveAnon'],
  ['total_inactive_file', 'totalInactiveFile'],
  ['total_active_file', 'totalActiveFile'],
  ['total_unevictable', 'totalUnevictable'],
];

describe('metricsAny on a cgroup v1 or hybrid host', () => {
  it('maps every memory.stat key that has a MemoryStat field to it', () => {
    // shmem and swap have no field in v1 Metrics.
    const raw: Record<string, number> = { shmem: 7, swap: 9, total_shmem: 11 };
    V1_MEMORY_FIELDS.forEach(([key], i) => (raw[key] = (i + 1) * 4096));
    const memory = decodeV1({ memory: { cache: raw.cache, raw } }).memory;
    expect(memory).toEqual({
      ...Object.fromEntries(V1_MEMORY_FIELDS.map(([key, field]) => [field, raw[key]])),
      usage: {},
      swap: {},
      kernel: {},
      kernelTcp: {},
    });
  });

  it('rebuilds the runc shim reply of trace C (ctr task metrics) from the same cgroup numbers', () => {
    // What the library reads for that container: the kernel's 2^63-4096 "no limit" is more than
    // a JS number holds exactly, so the library has UNLIMITED there.
    const raw: Record<string, number> = {
      cache: 0,
      rss: 53248,
      pgpgin: 1029,
      pgpgout: 1016,
      pgfault: 1598,
      inactive_anon: 49152,
      active_anon: 4096,
      hierarchical_memory_limit: UNLIMITED,
      hierarchical_memsw_limit: UNLIMITED,
      total_rss: 53248,
      total_pgpgin: 1029,
      total_pgpgout: 1016,
      total_pgfault: 1598,
      total_inactive_anon: 49152,
      total_active_anon: 4096,
    };
    const stats: Stats = {
      cpu: {
        usage: { total: 93904831, percpu: [36836683, 57068148], kernel: 60000000, user: 20000000 },
        throttling: { periods: 0, throttled_periods: 0, throttled_time: 0 },
      },
      memory: {
        cache: 0,
        usage: { usage: 806912, max: 2387968, failcnt: 0, limit: UNLIMITED },
        swap: { usage: 806912, max: 2387968, failcnt: 0, limit: UNLIMITED },
        kernel: { usage: 249856, max: 573440, failcnt: 0, limit: UNLIMITED },
        kernelTCP: { usage: 0, max: 0, failcnt: 0, limit: UNLIMITED },
        raw,
      },
      pids: { current: 1, limit: 0 },
      blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    };
    const limit = 2 ** 63 - 4096;
    // The trace's decoded reply, in the generated code's field names (memory_oom_control, which
    // the library's stats do not read, left out).
    expect(compact(decodeV1(stats))).toEqual({
      pids: { current: 1 },
      cpu: {
        usage: { total: 93904831, kernel: 60000000, user: 20000000, perCpu: [36836683, 57068148] },
        throttling: {},
      },
      memory: {
        rss: 53248,
        pgPgIn: 1029,
        pgPgOut: 1016,
        pgFault: 1598,
        inactiveAnon: 49152,
        activeAnon: 4096,
        hierarchicalMemoryLimit: limit,
        hierarchicalSwapLimit: limit,
        totalRss: 53248,
        totalPgPgIn: 1029,
        totalPgPgOut: 1016,
        totalPgFault: 1598,
        totalInactiveAnon: 49152,
        totalActiveAnon: 4096,
        usage: { limit, usage: 806912, max: 2387968 },
        swap: { limit, usage: 806912, max: 2387968 },
        kernel: { limit, usage: 249856, max: 573440 },
        kernelTcp: { limit },
      },
      blkio: {},
    });
  });

  it('fills cpu throttling, pids, blkio per op and hugetlb per page size', () => {
    const decoded = decodeV1({
      cpu: {
        usage: { total: 5000, percpu: [2000, 3000], kernel: 1000, user: 4000 },
        throttling: { periods: 10, throttled_periods: 3, throttled_time: 777 },
      },
      pids: { current: 4, limit: 100 },
      blkio: {
        ioServiceBytesRecursive: [
          { major: 8, minor: 0, op: 'Read', value: 4096 },
          { major: 8, minor: 0, op: 'Write', value: 8192 },
          { major: 8, minor: 0, op: 'Total', value: 12288 },
        ],
        ioServicedRecursive: [{ major: 8, minor: 0, op: 'Read', value: 2 }],
        ioQueueRecursive: [{ major: 8, minor: 16, op: 'Sync', value: 1 }],
        ioServiceTimeRecursive: [{ major: 8, minor: 16, op: 'Async', value: 2 }],
        ioWaitTimeRecursive: [{ major: 8, minor: 16, op: 'Read', value: 3 }],
        ioMergedRecursive: [{ major: 8, minor: 16, op: 'Write', value: 4 }],
        ioTimeRecursive: [{ major: 8, minor: 16, op: '', value: 5 }],
        sectorsRecursive: [{ major: 8, minor: 16, op: '', value: 6 }],
      },
      hugetlb: {
        '2MB': { usage: 2097152, max: 4194304, failcnt: 1 },
        '1GB': { usage: 0, max: 0, failcnt: 0 },
      },
    });
    expect(decoded.cpu).toEqual({
      usage: { total: 5000, kernel: 1000, user: 4000, perCpu: [2000, 3000] },
      throttling: { periods: 10, throttledPeriods: 3, throttledTime: 777 },
    });
    expect(decoded.pids).toEqual({ current: 4, limit: 100 });
    expect(decoded.blkio).toEqual({
      ioServiceBytesRecursive: [
        { op: 'Read', major: 8, value: 4096 },
        { op: 'Write', major: 8, value: 8192 },
        { op: 'Total', major: 8, value: 12288 },
      ],
      ioServicedRecursive: [{ op: 'Read', major: 8, value: 2 }],
      ioQueuedRecursive: [{ op: 'Sync', major: 8, minor: 16, value: 1 }],
      ioServiceTimeRecursive: [{ op: 'Async', major: 8, minor: 16, value: 2 }],
      ioWaitTimeRecursive: [{ op: 'Read', major: 8, minor: 16, value: 3 }],
      ioMergedRecursive: [{ op: 'Write', major: 8, minor: 16, value: 4 }],
      ioTimeRecursive: [{ major: 8, minor: 16, value: 5 }],
      sectorsRecursive: [{ major: 8, minor: 16, value: 6 }],
    });
    expect(decoded.hugetlb).toEqual([
      { pagesize: '1GB' },
      { pagesize: '2MB', usage: 2097152, max: 4194304, failcnt: 1 },
    ]);
  });

  it('always sends memory.usage and cpu.usage with their sections (ctr reads them unchecked)', () => {
    const decoded = decodeV1({
      memory: { cache: 0, raw: {} },
      cpu: { throttling: { periods: 1, throttled_periods: 0, throttled_time: 0 } },
    });
    expect(decoded.memory?.usage).toEqual({});
    expect(decoded.memory?.kernelTcp).toEqual({});
    expect(decoded.cpu?.usage).toEqual({ perCpu: [] });
    // Sections the stats do not have stay out.
    expect(decoded.pids).toBeUndefined();
    expect(decoded.blkio).toBeUndefined();
    expect(decoded.hugetlb).toEqual([]);
  });

  it('a finite limit stays as it is', () => {
    const decoded = decodeV1({
      memory: {
        cache: 0,
        usage: { usage: 1, limit: 67108864, max: 2, failcnt: 3 },
        raw: { hierarchical_memory_limit: 67108864 },
      },
    });
    expect(decoded.memory?.usage).toEqual({ usage: 1, limit: 67108864, max: 2, failcnt: 3 });
    expect(decoded.memory?.hierarchicalMemoryLimit).toBe(67108864);
  });
});

describe('metricsAny on a unified cgroup v2 host', () => {
  const v2Raw: Record<string, number> = {
    anon: 1,
    file: 2,
    kernel_stack: 3,
    slab: 4,
    sock: 5,
    shmem: 6,
    file_mapped: 7,
    file_dirty: 8,
    file_writeback: 9,
    anon_thp: 10,
    inactive_anon: 11,
    active_anon: 12,
    inactive_file: 13,
    active_file: 14,
    unevictable: 15,
    slab_reclaimable: 16,
    slab_unreclaimable: 17,
    pgfault: 18,
    pgmajfault: 19,
    workingset_refault_anon: 20,
    workingset_refault_file: 1,
    workingset_activate_anon: 21,
    workingset_activate_file: 1,
    workingset_nodereclaim: 22,
    pgrefill: 23,
    pgscan: 24,
    pgsteal: 25,
    pgactivate: 26,
    pgdeactivate: 27,
    pglazyfree: 28,
    pglazyfreed: 29,
    thp_fault_alloc: 30,
    thp_collapse_alloc: 31,
    zswap: 99,
  };

  it('maps cpu (ns back to usec), memory.stat, usage and swap, memory.events max, pids, io per device and hugetlb', () => {
    const decoded = decodeV2({
      cpu: {
        usage: { total: 5_000_000, kernel: 1_000_000, user: 4_000_000 },
        throttling: { periods: 10, throttled_periods: 3, throttled_time: 777_000 },
      },
      memory: {
        cache: 2,
        usage: { usage: 40 << 20, limit: 64 << 20, max: 50 << 20, failcnt: 5 },
        // The library's v1-like swap: memory + swap, limits added.
        swap: { usage: (40 << 20) + 4096, limit: (64 << 20) + (32 << 20), max: 0, failcnt: 0 },
        raw: v2Raw,
      },
      pids: { current: 3, limit: 50 },
      blkio: {
        ioServiceBytesRecursive: [
          { major: 8, minor: 0, op: 'Read', value: 4096 },
          { major: 8, minor: 0, op: 'Write', value: 8192 },
          { major: 253, minor: 1, op: 'Write', value: 512 },
        ],
        ioServicedRecursive: [
          { major: 8, minor: 0, op: 'Read', value: 1 },
          { major: 8, minor: 0, op: 'Write', value: 2 },
          { major: 253, minor: 1, op: 'Write', value: 3 },
        ],
      },
      hugetlb: { '2MB': { usage: 2097152, failcnt: 0 } },
    });
    expect(decoded.cpu).toEqual({
      usageUsec: 5000,
      userUsec: 4000,
      systemUsec: 1000,
      nrPeriods: 10,
      nrThrottled: 3,
      throttledUsec: 777,
    });
    expect(decoded.pids).toEqual({ current: 3, limit: 50 });
    expect(decoded.memory).toEqual({
      anon: 1,
      file: 2,
      kernelStack: 3,
      slab: 4,
      sock: 5,
      shmem: 6,
      fileMapped: 7,
      fileDirty: 8,
      fileWriteback: 9,
      anonThp: 10,
      inactiveAnon: 11,
      activeAnon: 12,
      inactiveFile: 13,
      activeFile: 14,
      unevictable: 15,
      slabReclaimable: 16,
      slabUnreclaimable: 17,
      pgfault: 18,
      pgmajfault: 19,
      // Linux >= 5.9 has _anon and _file: their sum.
      workingsetRefault: 21,
      workingsetActivate: 22,
      workingsetNodereclaim: 22,
      pgrefill: 23,
      pgscan: 24,
      pgsteal: 25,
      pgactivate: 26,
      pgdeactivate: 27,
      pglazyfree: 28,
      pglazyfreed: 29,
      thpFaultAlloc: 30,
      thpCollapseAlloc: 31,
      usage: 40 << 20,
      usageLimit: 64 << 20,
      swapUsage: 4096,
      swapLimit: 32 << 20,
    });
    expect(decoded.memoryEvents).toEqual({ max: 5 });
    expect(decoded.io).toEqual({
      usage: [
        { major: 8, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 },
        { major: 253, minor: 1, wbytes: 512, wios: 3 },
      ],
    });
    expect(decoded.hugetlb).toEqual([{ pagesize: '2MB', current: 2097152 }]);
  });

  it('"max" (the library\'s UNLIMITED) is containerd\'s 2^64-1 for the memory and swap limits', () => {
    const decoded = decodeV2({
      memory: {
        cache: 0,
        usage: { usage: 8192, limit: UNLIMITED, max: 0, failcnt: 0 },
        swap: { usage: 8192, limit: UNLIMITED, max: 0, failcnt: 0 },
        raw: {},
      },
    });
    // 64-bit fields decode to JS numbers (src/shim/protobuf-numbers.ts), which cannot hold
    // 2^64-1: the wire bytes say it, a varint of nine 0xff and 0x01 for each of the two limits.
    expect(decoded.memory?.usage).toBe(8192);
    const any = metricsAny(
      {
        memory: {
          cache: 0,
          usage: { usage: 8192, limit: UNLIMITED, max: 0, failcnt: 0 },
          swap: { usage: 8192, limit: UNLIMITED, max: 0, failcnt: 0 },
          raw: {},
        },
      },
      true,
    );
    const hex = Buffer.from(any.value).toString('hex');
    const max = 'ff'.repeat(9) + '01';
    // MemoryStat usage_limit = 33 (tag 0x88 0x02), swap_limit = 35 (tag 0x98 0x02).
    expect(hex).toContain(`8802${max}`);
    expect(hex).toContain(`9802${max}`);
  });
});
