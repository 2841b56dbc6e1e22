// cgroup v2 controllers against a fake cgroup2 directory in a temp dir: the files each
// controller writes exist beforehand (a real cgroupfs has them; a missing one means the
// controller is off), the files they read are pre-filled with realistic contents.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { LinuxResources } from '../../src/spec/types';
import type { Stats } from '../../src/cgroups/types';

// Record every write (file, value) while still writing: order and repeated writes to one file
// (io.max, rdma.max) are part of what is checked.
const writes: [string, string][] = [];
vi.mock('../../src/cgroups/fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/cgroups/fs')>();
  return {
    ...original,
    writeCgroupFile: (dir: string, file: string, value: string | number) => {
      writes.push([file, String(value)]);
      original.writeCgroupFile(dir, file, value);
    },
  };
});

import {
  UNLIMITED,
  V2_CONTROLLERS,
  blkioWeightToIoWeight,
  cpuMaxLine,
  cpuV2,
  cpusetV2,
  freeze,
  hugetlbV2,
  ioV2,
  isFrozen,
  memoryV2,
  pidsV2,
  rdmaV2,
  sharesToWeight,
  swapToV2,
  thaw,
  unifiedV2,
} from '../../src/cgroups/v2';

const UPDATE = { update: true };
const CREATE = { update: false };

let dir: string;

const V2_FILES = [
  'cgroup.controllers',
  'cgroup.freeze',
  'cgroup.events',
  'memory.max',
  'memory.low',
  'memory.swap.max',
  'memory.current',
  'cpu.weight',
  'cpu.max',
  'cpu.max.burst',
  'cpu.idle',
  'cpuset.cpus',
  'cpuset.mems',
  'pids.max',
  'io.weight',
  'io.max',
  'hugetlb.2MB.max',
  'hugetlb.2MB.rsvd.max',
  'hugetlb.1GB.max',
  'hugetlb.1GB.rsvd.max',
  'rdma.max',
  'memory.high',
];

function put(file: string, content: string): void {
  fs.writeFileSync(path.join(dir, file), content);
}
function read(file: string): string {
  return fs.readFileSync(path.join(dir, file), 'utf8');
}
function written(file: string): string[] {
  return writes.filter(([f]) => f === file).map(([, v]) => v);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cgv2-'));
  for (const file of V2_FILES) put(file, '');
  put('cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma');
  put('cpu.max', 'max 100000\n');
  put('memory.current', '1048576\n');
  put('cgroup.events', 'populated 1\nfrozen 0\n');
  put('cgroup.freeze', '0\n');
  writes.length = 0;
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('memory', () => {
  it('writes limit, reservation and swap (memory+swap minus memory)', () => {
    memoryV2.apply(dir, { memory: { limit: 536870912, reservation: 268435456, swap: 1073741824 } }, CREATE);
    expect(read('memory.max')).toBe('536870912');
    expect(read('memory.low')).toBe('268435456');
    expect(read('memory.swap.max')).toBe('536870912');
  });

  it('converts swap: -1 is max, swap == limit is no swap, unlimited memory means unlimited swap', () => {
    expect(swapToV2(-1, 1000)).toBe(-1);
    expect(swapToV2(1000, 1000)).toBe(0);
    expect(swapToV2(3000, 1000)).toBe(2000);
    expect(swapToV2(undefined, -1)).toBe(-1);
    expect(swapToV2(undefined, 1000)).toBe(0);
    expect(() => swapToV2(500, 1000)).toThrow(
      'linux.resources.memory.swap: memory+swap limit (500) should be >= memory limit (1000)',
    );
    expect(() => swapToV2(500, undefined)).toThrow(
      'linux.resources.memory.swap: unable to set swap limit without memory limit',
    );
  });

  it('writes "max" for -1 and "0" when swap equals the limit', () => {
    memoryV2.apply(dir, { memory: { limit: -1, swap: -1 } }, CREATE);
    expect(read('memory.max')).toBe('max');
    expect(read('memory.swap.max')).toBe('max');
    memoryV2.apply(dir, { memory: { limit: 1000000, swap: 1000000 } }, CREATE);
    expect(read('memory.max')).toBe('1000000');
    expect(read('memory.swap.max')).toBe('0');
  });

  it('leaves memory.swap.max alone when swap is not given', () => {
    memoryV2.apply(dir, { memory: { limit: 1000000 } }, CREATE);
    expect(written('memory.swap.max')).toEqual([]);
    expect(read('memory.max')).toBe('1000000');
  });

  it('without swap accounting: "max"/"0" are skipped, a real swap limit is an error', () => {
    fs.rmSync(path.join(dir, 'memory.swap.max'));
    memoryV2.apply(dir, { memory: { limit: 1000000, swap: 1000000 } }, CREATE);
    expect(fs.existsSync(path.join(dir, 'memory.swap.max'))).toBe(false);
    expect(() => memoryV2.apply(dir, { memory: { limit: 1000000, swap: 2000000 } }, CREATE)).toThrow(
      /memory\.swap: swap limit not supported \(no memory\.swap\.max/,
    );
  });

  it('ignores kernel, kernelTCP, swappiness and useHierarchy; refuses disableOOMKiller', () => {
    memoryV2.apply(dir, { memory: { kernel: 1, kernelTCP: 1, swappiness: 0, useHierarchy: true } }, CREATE);
    expect(writes).toEqual([]);
    memoryV2.apply(dir, { memory: { disableOOMKiller: false } }, CREATE);
    expect(() => memoryV2.apply(dir, { memory: { disableOOMKiller: true } }, CREATE)).toThrow(
      'linux.resources.memory.disableOOMKiller: not supported on cgroup v2',
    );
  });

  it('checkBeforeUpdate refuses a limit at or below memory.current on update only', () => {
    const r: LinuxResources = { memory: { limit: 1000, checkBeforeUpdate: true } };
    expect(() => memoryV2.apply(dir, r, UPDATE)).toThrow('rejecting memory limit 1000 below usage 1048576');
    expect(read('memory.max')).toBe('');
    memoryV2.apply(dir, r, CREATE);
    expect(read('memory.max')).toBe('1000');
    memoryV2.apply(dir, { memory: { limit: 2097152, checkBeforeUpdate: true } }, UPDATE);
    expect(read('memory.max')).toBe('2097152');
  });

  it('reads stats', () => {
    put('memory.current', '8491008\n');
    put('memory.max', '536870912\n');
    put('memory.peak', '9000000\n');
    put(
      'memory.stat',
      'anon 1867776\nfile 5545984\nkernel 929792\nkernel_stack 32768\nsock 0\nshmem 0\n' +
        'file_mapped 2707456\nfile_dirty 0\npgfault 3154\npgmajfault 13\n',
    );
    put('memory.events', 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n');
    put('memory.swap.current', '4096\n');
    put('memory.swap.max', '536870912\n');
    put('memory.swap.events', 'high 0\nmax 2\nfail 0\n');
    const stats: Stats = {};
    memoryV2.stats?.(dir, stats);
    expect(stats.memory).toEqual({
      cache: 5545984,
      usage: { usage: 8491008, limit: 536870912, max: 9000000, failcnt: 7 },
      swap: { usage: 8491008 + 4096, limit: 1073741824, max: 0, failcnt: 2 },
      raw: {
        anon: 1867776,
        file: 5545984,
        kernel: 929792,
        kernel_stack: 32768,
        sock: 0,
        shmem: 0,
        file_mapped: 2707456,
        file_dirty: 0,
        pgfault: 3154,
        pgmajfault: 13,
      },
    });
  });

  it('reports "max" as UNLIMITED in stats', () => {
    put('memory.max', 'max\n');
    put('memory.swap.current', '0\n');
    put('memory.swap.max', 'max\n');
    const stats: Stats = {};
    memoryV2.stats?.(dir, stats);
    expect(stats.memory?.usage?.limit).toBe(UNLIMITED);
    expect(stats.memory?.swap?.limit).toBe(UNLIMITED);
    expect(UNLIMITED).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('cpu', () => {
  it('converts shares to weight (runc): 2->1, 1024->39, 262144->10000', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(sharesToWeight(512)).toBe(20);
    expect(sharesToWeight(0)).toBe(0);
    expect(sharesToWeight(1)).toBe(1); // clamped to v1's minimum
    expect(sharesToWeight(1_000_000)).toBe(10000);
  });

  it('writes cpu.weight, cpu.max, cpu.max.burst and cpu.idle', () => {
    cpuV2.apply(dir, { cpu: { shares: 1024, quota: 50000, period: 200000, burst: 10000, idle: 0 } }, CREATE);
    expect(read('cpu.weight')).toBe('39');
    expect(read('cpu.max')).toBe('50000 200000');
    expect(read('cpu.max.burst')).toBe('10000');
    expect(read('cpu.idle')).toBe('0');
  });

  it('does not write cpu.weight for shares 0', () => {
    cpuV2.apply(dir, { cpu: { shares: 0 } }, CREATE);
    expect(writes).toEqual([]);
  });

  it('cpu.max forms: quota only, -1, period only', () => {
    expect(cpuMaxLine(20000, undefined, null)).toBe('20000 100000');
    expect(cpuMaxLine(-1, 50000, null)).toBe('max 50000');
    expect(cpuMaxLine(undefined, 50000, '30000 100000')).toBe('30000 50000');
    expect(cpuMaxLine(undefined, 50000, null)).toBe('max 50000');
    cpuV2.apply(dir, { cpu: { quota: 20000 } }, CREATE);
    expect(read('cpu.max')).toBe('20000 100000');
    cpuV2.apply(dir, { cpu: { period: 250000 } }, CREATE);
    expect(read('cpu.max')).toBe('20000 250000');
    cpuV2.apply(dir, { cpu: { quota: -1 } }, CREATE);
    expect(read('cpu.max')).toBe('max 100000');
  });

  it('refuses realtime runtime and period', () => {
    expect(() => cpuV2.apply(dir, { cpu: { realtimeRuntime: 950000 } }, CREATE)).toThrow(
      'linux.resources.cpu.realtimeRuntime: not supported on cgroup v2 (no cpu.rt_runtime_us in cgroup v2)',
    );
    expect(() => cpuV2.apply(dir, { cpu: { realtimePeriod: 1000000 } }, CREATE)).toThrow(
      'linux.resources.cpu.realtimePeriod: not supported on cgroup v2',
    );
    expect(writes).toEqual([]);
    cpuV2.apply(dir, { cpu: { realtimeRuntime: 0, realtimePeriod: 0 } }, CREATE);
  });

  it('reads cpu.stat in nanoseconds', () => {
    put(
      'cpu.stat',
      'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\ncore_sched.force_idle_usec 0\n' +
        'nr_periods 50\nnr_throttled 3\nthrottled_usec 7000\nnr_bursts 0\nburst_usec 0\n',
    );
    const stats: Stats = {};
    cpuV2.stats?.(dir, stats);
    expect(stats.cpu).toEqual({
      usage: { total: 123456000, kernel: 23456000, user: 100000000 },
      throttling: { periods: 50, throttled_periods: 3, throttled_time: 7000000 },
    });
  });
});

describe('cpuset', () => {
  it('writes cpus and mems as given', () => {
    cpusetV2.apply(dir, { cpu: { cpus: '0-2,4', mems: '0' } }, CREATE);
    expect(read('cpuset.cpus')).toBe('0-2,4');
    expect(read('cpuset.mems')).toBe('0');
    expect(writes.map(([f]) => f)).toEqual(['cpuset.cpus', 'cpuset.mems']);
  });
});

describe('pids', () => {
  it('writes the limit, "max" below 0, nothing for 0 (not set)', () => {
    pidsV2.apply(dir, { pids: { limit: 64 } }, CREATE);
    expect(read('pids.max')).toBe('64');
    pidsV2.apply(dir, { pids: { limit: 0 } }, CREATE);
    expect(read('pids.max')).toBe('64');
    pidsV2.apply(dir, { pids: { limit: -1 } }, CREATE);
    expect(read('pids.max')).toBe('max');
  });

  it('reads stats, "max" as limit 0 (runc)', () => {
    put('pids.current', '5\n');
    put('pids.max', '64\n');
    const stats: Stats = {};
    pidsV2.stats?.(dir, stats);
    expect(stats.pids).toEqual({ current: 5, limit: 64 });
    put('pids.max', 'max\n');
    pidsV2.stats?.(dir, stats);
    expect(stats.pids).toEqual({ current: 5, limit: 0 });
  });
});

describe('io', () => {
  it('converts blkio weights to io.weight: 10->1, 500->4950, 1000->10000', () => {
    expect(blkioWeightToIoWeight(10)).toBe(1);
    expect(blkioWeightToIoWeight(500)).toBe(4950);
    expect(blkioWeightToIoWeight(1000)).toBe(10000);
    expect(blkioWeightToIoWeight(100)).toBe(910);
  });

  it('writes io.weight (converted) and device weights without BFQ', () => {
    ioV2.apply(
      dir,
      {
        blockIO: {
          weight: 500,
          leafWeight: 300,
          weightDevice: [{ major: 8, minor: 0, weight: 1000, leafWeight: 10 }],
        },
      },
      CREATE,
    );
    expect(written('io.weight')).toEqual(['4950', '8:0 10000']);
    expect(fs.existsSync(path.join(dir, 'io.bfq.weight'))).toBe(false);
  });

  it('writes unconverted weights to io.bfq.weight when BFQ is there', () => {
    put('io.bfq.weight', 'default 100\n');
    ioV2.apply(
      dir,
      { blockIO: { weight: 500, weightDevice: [{ major: 8, minor: 16, weight: 200 }] } },
      CREATE,
    );
    expect(written('io.bfq.weight')).toEqual(['500', '8:16 200']);
    expect(written('io.weight')).toEqual([]);
  });

  it('writes one io.max line per throttle, 0 as max', () => {
    ioV2.apply(
      dir,
      {
        blockIO: {
          throttleReadBpsDevice: [
            { major: 8, minor: 0, rate: 1048576 },
            { major: 8, minor: 16, rate: 0 },
          ],
          throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2097152 }],
          throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
          throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 200 }],
        },
      },
      CREATE,
    );
    expect(written('io.max')).toEqual([
      '8:0 rbps=1048576',
      '8:16 rbps=max',
      '8:0 wbps=2097152',
      '8:0 riops=100',
      '8:0 wiops=200',
    ]);
    expect(read('io.max')).toBe('8:0 wiops=200');
  });

  it('reads io.stat into the blkio lists', () => {
    put(
      'io.stat',
      '8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n' +
        '253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=512 dios=1\n',
    );
    const stats: Stats = {};
    ioV2.stats?.(dir, stats);
    expect(stats.blkio).toEqual({
      ioServiceBytesRecursive: [
        { major: 8, minor: 0, op: 'Read', value: 1459200 },
        { major: 8, minor: 0, op: 'Write', value: 314773504 },
        { major: 253, minor: 1, op: 'Read', value: 4096 },
        { major: 253, minor: 1, op: 'Write', value: 0 },
      ],
      ioServicedRecursive: [
        { major: 8, minor: 0, op: 'Read', value: 192 },
        { major: 8, minor: 0, op: 'Write', value: 353 },
        { major: 253, minor: 1, op: 'Read', value: 1 },
        { major: 253, minor: 1, op: 'Write', value: 0 },
      ],
    });
  });
});

describe('hugetlb', () => {
  it('writes .max and .rsvd.max per page size', () => {
    hugetlbV2.apply(
      dir,
      {
        hugepageLimits: [
          { pageSize: '2MB', limit: 209715200 },
          { pageSize: '1GB', limit: 1073741824 },
        ],
      },
      CREATE,
    );
    expect(read('hugetlb.2MB.max')).toBe('209715200');
    expect(read('hugetlb.2MB.rsvd.max')).toBe('209715200');
    expect(read('hugetlb.1GB.max')).toBe('1073741824');
    expect(read('hugetlb.1GB.rsvd.max')).toBe('1073741824');
  });

  it('skips .rsvd.max on kernels without it; refuses an unknown page size', () => {
    fs.rmSync(path.join(dir, 'hugetlb.2MB.rsvd.max'));
    hugetlbV2.apply(dir, { hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }] }, CREATE);
    expect(written('hugetlb.2MB.rsvd.max')).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'hugetlb.2MB.rsvd.max'))).toBe(false);
    expect(() => hugetlbV2.apply(dir, { hugepageLimits: [{ pageSize: '64KB', limit: 1 }] }, CREATE)).toThrow(
      'linux.resources.hugepageLimits[0].pageSize: page size "64KB" is not supported here (no hugetlb.64KB.max)',
    );
  });

  it('reads stats per page size', () => {
    put('hugetlb.2MB.current', '4194304\n');
    put('hugetlb.2MB.events', 'max 3\n');
    put('hugetlb.2MB.rsvd.current', '6291456\n');
    put('hugetlb.2MB.rsvd.events', 'max 1\n');
    fs.rmSync(path.join(dir, 'hugetlb.1GB.rsvd.max'));
    put('hugetlb.1GB.current', '0\n');
    put('hugetlb.1GB.events', 'max 0\n');
    const stats: Stats = {};
    hugetlbV2.stats?.(dir, stats);
    expect(stats.hugetlb).toEqual({
      '1GB': { usage: 0, failcnt: 0 },
      '2MB': { usage: 6291456, failcnt: 1 },
    });
  });
});

describe('rdma', () => {
  it('writes one rdma.max line per device', () => {
    rdmaV2.apply(
      dir,
      { rdma: { mlx5_1: { hcaHandles: 3, hcaObjects: 10000 }, mlx4_0: { hcaObjects: 1000 } } },
      CREATE,
    );
    expect(written('rdma.max')).toEqual(['mlx5_1 hca_handle=3 hca_object=10000', 'mlx4_0 hca_object=1000']);
  });
});

describe('unified', () => {
  it('writes key/values as is', () => {
    unifiedV2.apply(dir, { unified: { 'memory.high': '1073741824', 'pids.max': '10' } }, CREATE);
    expect(read('memory.high')).toBe('1073741824');
    expect(read('pids.max')).toBe('10');
  });

  it('refuses keys that are not plain file names', () => {
    for (const key of ['../memory.max', 'a/b', '..', '']) {
      expect(() => unifiedV2.apply(dir, { unified: { [key]: '1' } }, CREATE)).toThrow(
        `linux.resources.unified["${key}"]: must be a file name (no slashes)`,
      );
    }
    expect(() => unifiedV2.apply(dir, { unified: { memory: '1' } }, CREATE)).toThrow(
      'must be in the form CONTROLLER.PARAMETER',
    );
    expect(writes).toEqual([]);
  });

  it('names the missing controller for a file that does not exist', () => {
    expect(() => unifiedV2.apply(dir, { unified: { 'misc.max': 'x 1' } }, CREATE)).toThrow(
      `linux.resources.unified["misc.max"]: can't be set: controller "misc" not available`,
    );
    expect(() => unifiedV2.apply(dir, { unified: { 'memory.oom.group': '1' } }, CREATE)).toThrow(
      `linux.resources.unified["memory.oom.group"]: can't be set: no such file`,
    );
    expect(fs.existsSync(path.join(dir, 'misc.max'))).toBe(false);
  });
});

describe('V2_CONTROLLERS', () => {
  it('applies unified last, overriding what the controllers wrote', () => {
    const names = V2_CONTROLLERS.map((c) => c.name);
    expect(names[names.length - 1]).toBe('unified');
    expect(new Set(names)).toEqual(
      new Set(['pids', 'memory', 'io', 'cpu', 'devices', 'cpuset', 'hugetlb', 'rdma', 'unified']),
    );
    const resources: LinuxResources = {
      memory: { limit: 1000000 },
      pids: { limit: 10 },
      cpu: { shares: 1024 },
      unified: { 'memory.max': '2000000', 'cpu.weight': '100' },
    };
    // devices needs the kernel (cgroups-v2-bpf.test.ts); the rest runs on the fake tree.
    for (const c of V2_CONTROLLERS.filter((c) => c.name !== 'devices')) c.apply(dir, resources, CREATE);
    expect(written('memory.max')).toEqual(['1000000', '2000000']);
    expect(written('cpu.weight')).toEqual(['39', '100']);
    expect(read('memory.max')).toBe('2000000');
    expect(read('cpu.weight')).toBe('100');
    expect(read('pids.max')).toBe('10');
  });

  it('writes nothing for empty resources', () => {
    for (const c of V2_CONTROLLERS.filter((c) => c.name !== 'devices')) c.apply(dir, {}, CREATE);
    expect(writes).toEqual([]);
  });
});

describe('freezer', () => {
  it('freezes and thaws, waiting for cgroup.events', async () => {
    put('cgroup.events', 'populated 1\nfrozen 1\n');
    await freeze(dir);
    expect(read('cgroup.freeze')).toBe('1');
    expect(isFrozen(dir)).toBe(true);
    put('cgroup.events', 'populated 1\nfrozen 0\n');
    await thaw(dir);
    expect(read('cgroup.freeze')).toBe('0');
    expect(isFrozen(dir)).toBe(false);
  });

  it('times out with a clear error and thaws back', async () => {
    const started = Date.now();
    await expect(freeze(dir, 100)).rejects.toThrow(
      `cgroup: timed out after 100 ms waiting for ${dir} to freeze`,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(read('cgroup.freeze')).toBe('0');
  });

  it('without cgroup.freeze: freeze is an error, thaw a no-op', async () => {
    fs.rmSync(path.join(dir, 'cgroup.freeze'));
    await expect(freeze(dir)).rejects.toThrow(`cgroup: freezer not supported: no cgroup.freeze in ${dir}`);
    await thaw(dir);
    expect(isFrozen(dir)).toBe(false);
  });
});
