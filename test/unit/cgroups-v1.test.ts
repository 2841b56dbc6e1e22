// cgroup v1 controllers against a fake v1 cgroup directory in a temp dir. The files a
// controller writes exist beforehand (a real cgroupfs has them; a missing one means the kernel
// lacks that feature), the files it reads are pre-filled with contents copied from a Debian 12
// host (kernel 6.x, hybrid mode). Every test checks which files changed and to what, so a field
// touching more than its own file shows up.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { LinuxResources } from '../../src/spec/types';
import type { Controller, Stats } from '../../src/cgroups/types';

// Record every write (file, value) while still writing: order and repeated writes to one file
// (devices.allow, throttle files) are part of what is checked. `hooks` lets a test play the
// kernel: refuse a write (throw) or store something else than what was written (clamp).
const writes: [string, string][] = [];
const hooks = new Map<string, (value: string) => string>();
vi.mock('../../src/cgroups/fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/cgroups/fs')>();
  return {
    ...original,
    writeCgroupFile: (dir: string, file: string, value: string | number) => {
      writes.push([file, String(value)]);
      const hook = hooks.get(file);
      original.writeCgroupFile(dir, file, hook ? hook(String(value)) : value);
    },
  };
});

import {
  FREEZE_TIMEOUT_MS,
  V1_CONTROLLERS,
  blkioController,
  cpuController,
  cpuacctController,
  cpusetController,
  deviceTransition,
  deviceWrites,
  devicesController,
  freeze,
  freezerController,
  freezerState,
  hugetlbController,
  initCpusetDir,
  memoryController,
  netClsController,
  netPrioController,
  parseBlkioStat,
  parseDevicesList,
  pidsController,
  playDeviceWrites,
  rdmaController,
  thaw,
} from '../../src/cgroups/v1';
import { UNLIMITED } from '../../src/cgroups/v2';

const CREATE = { update: false };
const UPDATE = { update: true };

let dir: string;

function put(file: string, content: string, base = dir): void {
  fs.writeFileSync(path.join(base, file), content);
}
function read(file: string, base = dir): string {
  return fs.readFileSync(path.join(base, file), 'utf8');
}
function written(file: string): string[] {
  return writes.filter(([f]) => f === file).map(([, v]) => v);
}
function snapshot(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of fs.readdirSync(dir)) {
    if (fs.statSync(path.join(dir, name)).isFile()) files.set(name, read(name));
  }
  return files;
}

/** Apply, then return the files whose contents changed (or appeared), with their contents. */
function applyAndDiff(
  controller: Controller,
  resources: LinuxResources,
  ctx = CREATE,
): Record<string, string> {
  const before = snapshot();
  controller.apply(dir, resources, ctx);
  const changed: Record<string, string> = {};
  for (const [name, content] of snapshot()) if (before.get(name) !== content) changed[name] = content;
  return changed;
}

/** A refusal as the kernel would give it (EINVAL), through the real writer's error path. */
function refuse(file: string, times = Infinity): void {
  let left = times;
  hooks.set(file, (value) => {
    if (left-- > 0) throw new Error(`cgroup: write "${value}" to ${path.join(dir, file)}: invalid argument`);
    return value;
  });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-cgv1-'));
  writes.length = 0;
  hooks.clear();
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('V1_CONTROLLERS', () => {
  it('applies cpuset first and names each controller by its hierarchy once', () => {
    const names = V1_CONTROLLERS.map((c) => c.name);
    expect(names[0]).toBe('cpuset');
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual(
      [
        'blkio',
        'cpu',
        'cpuacct',
        'cpuset',
        'devices',
        'freezer',
        'hugetlb',
        'memory',
        'net_cls',
        'net_prio',
        'pids',
        'rdma',
      ].sort(),
    );
  });

  it('writes nothing for an empty resources object', () => {
    // A tree with every file any controller could write.
    for (const file of [
      'memory.limit_in_bytes',
      'memory.memsw.limit_in_bytes',
      'cpu.shares',
      'cpuset.cpus',
      'pids.max',
      'blkio.weight',
      'net_cls.classid',
      'freezer.state',
    ]) {
      put(file, '');
    }
    for (const controller of V1_CONTROLLERS) {
      if (controller.name === 'devices') continue; // the default allow list always applies
      controller.apply(dir, {}, CREATE);
    }
    expect(writes).toEqual([]);
  });
});

// --- memory -----------------------------------------------------------------------------------

const UNLIMITED_V1 = '9223372036854771712\n';

function memoryTree(): void {
  put('memory.limit_in_bytes', UNLIMITED_V1);
  put('memory.memsw.limit_in_bytes', UNLIMITED_V1);
  put('memory.soft_limit_in_bytes', UNLIMITED_V1);
  put('memory.kmem.limit_in_bytes', UNLIMITED_V1);
  put('memory.kmem.tcp.limit_in_bytes', UNLIMITED_V1);
  put('memory.swappiness', '60\n');
  put('memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
  put('memory.use_hierarchy', '1\n');
  put('memory.usage_in_bytes', '206008320\n');
  put('memory.max_usage_in_bytes', '1613742080\n');
}

describe('memory', () => {
  beforeEach(memoryTree);

  it('limit -> memory.limit_in_bytes (memsw is left alone when swap is not given)', () => {
    expect(applyAndDiff(memoryController, { memory: { limit: 536870912 } })).toEqual({
      'memory.limit_in_bytes': '536870912',
    });
  });

  it('reservation -> memory.soft_limit_in_bytes', () => {
    expect(applyAndDiff(memoryController, { memory: { reservation: 268435456 } })).toEqual({
      'memory.soft_limit_in_bytes': '268435456',
    });
  });

  it('swap alone -> memory.memsw.limit_in_bytes', () => {
    expect(applyAndDiff(memoryController, { memory: { swap: 1073741824 } })).toEqual({
      'memory.memsw.limit_in_bytes': '1073741824',
    });
  });

  it('kernel -> memory.kmem.limit_in_bytes, kernelTCP -> memory.kmem.tcp.limit_in_bytes', () => {
    expect(applyAndDiff(memoryController, { memory: { kernel: 134217728, kernelTCP: 16777216 } })).toEqual({
      'memory.kmem.limit_in_bytes': '134217728',
      'memory.kmem.tcp.limit_in_bytes': '16777216',
    });
  });

  it('kernel and kernelTCP are skipped silently on kernels without kmem files', () => {
    fs.rmSync(path.join(dir, 'memory.kmem.limit_in_bytes'));
    fs.rmSync(path.join(dir, 'memory.kmem.tcp.limit_in_bytes'));
    expect(applyAndDiff(memoryController, { memory: { kernel: 134217728, kernelTCP: 16777216 } })).toEqual(
      {},
    );
    expect(writes).toEqual([]);
  });

  it('swappiness -> memory.swappiness, 0..100 only, -1 leaves it alone', () => {
    expect(applyAndDiff(memoryController, { memory: { swappiness: 0 } })).toEqual({
      'memory.swappiness': '0',
    });
    expect(applyAndDiff(memoryController, { memory: { swappiness: 100 } })).toEqual({
      'memory.swappiness': '100',
    });
    expect(applyAndDiff(memoryController, { memory: { swappiness: -1 } })).toEqual({});
    expect(() => memoryController.apply(dir, { memory: { swappiness: 101 } }, CREATE)).toThrow(
      'linux.resources.memory.swappiness: invalid memory swappiness value: 101 (valid range is 0-100)',
    );
  });

  it('disableOOMKiller true -> memory.oom_control "1"; false writes nothing', () => {
    expect(applyAndDiff(memoryController, { memory: { disableOOMKiller: true } })).toEqual({
      'memory.oom_control': '1',
    });
    writes.length = 0;
    memoryController.apply(dir, { memory: { disableOOMKiller: false } }, CREATE);
    expect(writes).toEqual([]);
  });

  it('useHierarchy -> memory.use_hierarchy', () => {
    put('memory.use_hierarchy', '0\n');
    expect(applyAndDiff(memoryController, { memory: { useHierarchy: true } })).toEqual({
      'memory.use_hierarchy': '1',
    });
    expect(applyAndDiff(memoryController, { memory: { useHierarchy: false } })).toEqual({
      'memory.use_hierarchy': '0',
    });
  });

  it('leaves every file alone for an empty memory object and for 0 limits (runc: 0 is unset)', () => {
    expect(applyAndDiff(memoryController, { memory: {} })).toEqual({});
    expect(applyAndDiff(memoryController, { memory: { limit: 0, swap: 0, reservation: 0 } })).toEqual({});
    expect(writes).toEqual([]);
  });

  it('-1 is written as "-1" (unlimited), and unlimited memory with no swap unlimits swap first', () => {
    put('memory.limit_in_bytes', '536870912\n');
    put('memory.memsw.limit_in_bytes', '1073741824\n');
    expect(applyAndDiff(memoryController, { memory: { limit: -1 } })).toEqual({
      'memory.limit_in_bytes': '-1',
      'memory.memsw.limit_in_bytes': '-1',
    });
    expect(writes).toEqual([
      ['memory.memsw.limit_in_bytes', '-1'],
      ['memory.limit_in_bytes', '-1'],
    ]);
  });

  it('growing: memsw goes first when the new swap is above the current limit', () => {
    put('memory.limit_in_bytes', '104857600\n');
    put('memory.memsw.limit_in_bytes', '209715200\n');
    memoryController.apply(dir, { memory: { limit: 419430400, swap: 838860800 } }, UPDATE);
    expect(writes).toEqual([
      ['memory.memsw.limit_in_bytes', '838860800'],
      ['memory.limit_in_bytes', '419430400'],
    ]);
  });

  it('shrinking: the limit goes first when the new swap is below the current limit', () => {
    put('memory.limit_in_bytes', '1073741824\n');
    put('memory.memsw.limit_in_bytes', '2147483648\n');
    memoryController.apply(dir, { memory: { limit: 104857600, swap: 209715200 } }, UPDATE);
    expect(writes).toEqual([
      ['memory.limit_in_bytes', '104857600'],
      ['memory.memsw.limit_in_bytes', '209715200'],
    ]);
  });

  it('from the unlimited default (a new cgroup), the limit goes first', () => {
    memoryController.apply(dir, { memory: { limit: 104857600, swap: 209715200 } }, CREATE);
    expect(writes).toEqual([
      ['memory.limit_in_bytes', '104857600'],
      ['memory.memsw.limit_in_bytes', '209715200'],
    ]);
  });

  it('swap -1 with a limit: memsw goes first', () => {
    memoryController.apply(dir, { memory: { limit: 104857600, swap: -1 } }, CREATE);
    expect(writes).toEqual([
      ['memory.memsw.limit_in_bytes', '-1'],
      ['memory.limit_in_bytes', '104857600'],
    ]);
  });

  it('without swap accounting: a swap limit is an error, -1 is moot', () => {
    fs.rmSync(path.join(dir, 'memory.memsw.limit_in_bytes'));
    expect(() => memoryController.apply(dir, { memory: { limit: 100, swap: 200 } }, CREATE)).toThrow(
      'linux.resources.memory.swap: swap limit not supported (no memory.memsw.limit_in_bytes: swap accounting is off)',
    );
    writes.length = 0;
    memoryController.apply(dir, { memory: { limit: -1 } }, CREATE);
    expect(writes).toEqual([['memory.limit_in_bytes', '-1']]);
  });

  it('checkBeforeUpdate refuses, on update only, a limit at or below the current usage', () => {
    const memory = { limit: 104857600, checkBeforeUpdate: true };
    expect(() => memoryController.apply(dir, { memory }, UPDATE)).toThrow(
      'rejecting memory limit 104857600 below usage 206008320',
    );
    expect(writes).toEqual([]);
    memoryController.apply(dir, { memory }, CREATE);
    expect(read('memory.limit_in_bytes')).toBe('104857600');
    writes.length = 0;
    memoryController.apply(dir, { memory: { limit: 536870912, checkBeforeUpdate: true } }, UPDATE);
    expect(written('memory.limit_in_bytes')).toEqual(['536870912']);
  });

  it('a limit the kernel refuses below usage names usage and peak (runc wording)', () => {
    refuse('memory.limit_in_bytes');
    expect(() => memoryController.apply(dir, { memory: { limit: 1048576 } }, CREATE)).toThrow(
      /^unable to set memory limit to 1048576 \(current usage: 206008320, peak usage: 1613742080\): cgroup: write "1048576" to .*memory\.limit_in_bytes: invalid argument$/,
    );
  });

  it('a value the kernel refuses gives the writer error naming file and value', () => {
    // A directory in place of the file: the real write fails (EISDIR), as a kernel refusal would.
    fs.rmSync(path.join(dir, 'memory.soft_limit_in_bytes'));
    fs.mkdirSync(path.join(dir, 'memory.soft_limit_in_bytes'));
    expect(() => memoryController.apply(dir, { memory: { reservation: 4096 } }, CREATE)).toThrow(
      `cgroup: write "4096" to ${path.join(dir, 'memory.soft_limit_in_bytes')}: illegal operation on a directory`,
    );
  });

  it('stats: usage, swap (memsw), kernel, kernelTCP, cache and raw from memory.stat', () => {
    put('memory.failcnt', '3\n');
    put('memory.limit_in_bytes', '536870912\n');
    put('memory.memsw.usage_in_bytes', '206266368\n');
    put('memory.memsw.max_usage_in_bytes', '1614000128\n');
    put('memory.memsw.failcnt', '0\n');
    put('memory.memsw.limit_in_bytes', UNLIMITED_V1);
    put('memory.kmem.usage_in_bytes', '8192000\n');
    put('memory.kmem.max_usage_in_bytes', '9000000\n');
    put('memory.kmem.failcnt', '0\n');
    put('memory.kmem.tcp.usage_in_bytes', '0\n');
    put('memory.kmem.tcp.max_usage_in_bytes', '0\n');
    put('memory.kmem.tcp.failcnt', '0\n');
    put(
      'memory.stat',
      [
        'cache 69959680',
        'rss 3444736',
        'rss_huge 0',
        'shmem 0',
        'mapped_file 3379200',
        'dirty 69632',
        'writeback 0',
        'swap 0',
        'pgpgin 34430275',
        'pgpgout 34412917',
        'pgfault 44180053',
        'pgmajfault 4358',
        'inactive_anon 3215360',
        'active_anon 20480',
        'inactive_file 33636352',
        'active_file 36323328',
        'unevictable 0',
        'hierarchical_memory_limit 9223372036854771712',
        'hierarchical_memsw_limit 9223372036854771712',
        'total_cache 69959680',
        'total_rss 3444736',
        '',
      ].join('\n'),
    );
    const stats: Stats = {};
    memoryController.stats?.(dir, stats);
    expect(stats.memory?.cache).toBe(69959680);
    expect(stats.memory?.usage).toEqual({ usage: 206008320, max: 1613742080, failcnt: 3, limit: 536870912 });
    expect(stats.memory?.swap).toEqual({ usage: 206266368, max: 1614000128, failcnt: 0, limit: UNLIMITED });
    expect(stats.memory?.kernel).toEqual({ usage: 8192000, max: 9000000, failcnt: 0, limit: UNLIMITED });
    expect(stats.memory?.kernelTCP).toEqual({ usage: 0, max: 0, failcnt: 0, limit: UNLIMITED });
    expect(stats.memory?.raw?.rss).toBe(3444736);
    expect(stats.memory?.raw?.pgmajfault).toBe(4358);
    expect(stats.memory?.raw?.hierarchical_memory_limit).toBe(UNLIMITED);
  });

  it('stats: no swap entry without swap accounting; nothing without memory.stat', () => {
    put('memory.stat', 'cache 0\nrss 0\n');
    const stats: Stats = {};
    memoryController.stats?.(dir, stats);
    expect(stats.memory?.swap).toBeUndefined();
    expect(stats.memory?.usage?.usage).toBe(206008320);
    fs.rmSync(path.join(dir, 'memory.stat'));
    const none: Stats = {};
    memoryController.stats?.(dir, none);
    expect(none).toEqual({});
  });
});

// --- cpu ----------------------------------------------------------------------------------------

function cpuTree(): void {
  put('cpu.shares', '1024\n');
  put('cpu.cfs_period_us', '100000\n');
  put('cpu.cfs_quota_us', '-1\n');
  put('cpu.cfs_burst_us', '0\n');
  put('cpu.idle', '0\n');
  put('cpu.rt_period_us', '1000000\n');
  put('cpu.rt_runtime_us', '0\n');
  put('cpu.stat', 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n');
}

describe('cpu', () => {
  beforeEach(cpuTree);

  it('shares -> cpu.shares', () => {
    expect(applyAndDiff(cpuController, { cpu: { shares: 512 } })).toEqual({ 'cpu.shares': '512' });
  });

  it('shares the kernel clamps are reported with the bound (runc wording)', () => {
    hooks.set('cpu.shares', (value) => String(Math.min(Number(value), 262144)));
    expect(() => cpuController.apply(dir, { cpu: { shares: 500000 } }, CREATE)).toThrow(
      'linux.resources.cpu.shares: the maximum allowed cpu-shares is 262144',
    );
    hooks.set('cpu.shares', (value) => String(Math.max(Number(value), 2)));
    expect(() => cpuController.apply(dir, { cpu: { shares: 1 } }, CREATE)).toThrow(
      'linux.resources.cpu.shares: the minimum allowed cpu-shares is 2',
    );
  });

  it('period and quota -> cpu.cfs_period_us then cpu.cfs_quota_us', () => {
    expect(applyAndDiff(cpuController, { cpu: { quota: 50000, period: 200000 } })).toEqual({
      'cpu.cfs_period_us': '200000',
      'cpu.cfs_quota_us': '50000',
    });
    expect(writes).toEqual([
      ['cpu.cfs_period_us', '200000'],
      ['cpu.cfs_quota_us', '50000'],
    ]);
  });

  it('quota alone, period alone', () => {
    expect(applyAndDiff(cpuController, { cpu: { quota: 25000 } })).toEqual({ 'cpu.cfs_quota_us': '25000' });
    expect(applyAndDiff(cpuController, { cpu: { period: 50000 } })).toEqual({ 'cpu.cfs_period_us': '50000' });
  });

  it('a period the kernel refuses before the new quota is retried after it', () => {
    refuse('cpu.cfs_period_us', 1);
    cpuController.apply(dir, { cpu: { quota: 10000, period: 20000 } }, UPDATE);
    expect(writes).toEqual([
      ['cpu.cfs_period_us', '20000'],
      ['cpu.cfs_quota_us', '10000'],
      ['cpu.cfs_period_us', '20000'],
    ]);
    expect(read('cpu.cfs_period_us')).toBe('20000');
  });

  it('a refused period with no quota to write is the error', () => {
    refuse('cpu.cfs_period_us');
    expect(() => cpuController.apply(dir, { cpu: { period: 20000 } }, UPDATE)).toThrow(
      /cgroup: write "20000" to .*cpu\.cfs_period_us: invalid argument/,
    );
  });

  it('burst -> cpu.cfs_burst_us before the quota, retried after it when refused', () => {
    expect(applyAndDiff(cpuController, { cpu: { burst: 20000 } })).toEqual({ 'cpu.cfs_burst_us': '20000' });
    writes.length = 0;
    refuse('cpu.cfs_burst_us', 1);
    cpuController.apply(dir, { cpu: { quota: 50000, burst: 40000 } }, UPDATE);
    expect(writes).toEqual([
      ['cpu.cfs_burst_us', '40000'],
      ['cpu.cfs_quota_us', '50000'],
      ['cpu.cfs_burst_us', '40000'],
    ]);
  });

  it('burst without cpu.cfs_burst_us is an error (0 is moot)', () => {
    fs.rmSync(path.join(dir, 'cpu.cfs_burst_us'));
    expect(() => cpuController.apply(dir, { cpu: { burst: 1000 } }, CREATE)).toThrow(
      'linux.resources.cpu.burst: not supported by this kernel (no cpu.cfs_burst_us)',
    );
    expect(applyAndDiff(cpuController, { cpu: { burst: 0 } })).toEqual({});
  });

  it('idle -> cpu.idle; without the file an error (0 is moot)', () => {
    expect(applyAndDiff(cpuController, { cpu: { idle: 1 } })).toEqual({ 'cpu.idle': '1' });
    fs.rmSync(path.join(dir, 'cpu.idle'));
    expect(() => cpuController.apply(dir, { cpu: { idle: 1 } }, CREATE)).toThrow(
      'linux.resources.cpu.idle: not supported by this kernel (no cpu.idle)',
    );
    expect(applyAndDiff(cpuController, { cpu: { idle: 0 } })).toEqual({});
  });

  it('realtimePeriod and realtimeRuntime -> cpu.rt_period_us then cpu.rt_runtime_us', () => {
    expect(
      applyAndDiff(cpuController, { cpu: { realtimeRuntime: 950000, realtimePeriod: 1000000 } }),
    ).toEqual({
      'cpu.rt_period_us': '1000000',
      'cpu.rt_runtime_us': '950000',
    });
    expect(writes).toEqual([
      ['cpu.rt_period_us', '1000000'],
      ['cpu.rt_runtime_us', '950000'],
    ]);
    expect(applyAndDiff(cpuController, { cpu: { realtimePeriod: 500000 } })).toEqual({
      'cpu.rt_period_us': '500000',
    });
  });

  it('leaves every file alone for absent and 0 fields, and for cpus/mems (cpuset owns them)', () => {
    expect(applyAndDiff(cpuController, { cpu: {} })).toEqual({});
    expect(
      applyAndDiff(cpuController, { cpu: { shares: 0, quota: 0, period: 0, cpus: '0', mems: '0' } }),
    ).toEqual({});
    expect(writes).toEqual([]);
  });

  it('stats: throttling from cpu.stat (ns already), merged with cpuacct usage', () => {
    put(
      'cpu.stat',
      'nr_periods 1200\nnr_throttled 37\nthrottled_time 5123456789\nnr_bursts 0\nburst_time 0\n',
    );
    const stats: Stats = { cpu: { usage: { total: 1 } } };
    cpuController.stats?.(dir, stats);
    expect(stats.cpu).toEqual({
      usage: { total: 1 },
      throttling: { periods: 1200, throttled_periods: 37, throttled_time: 5123456789 },
    });
  });
});

describe('cpuacct', () => {
  it('writes nothing', () => {
    put('cpuacct.usage', '0\n');
    expect(applyAndDiff(cpuacctController, { cpu: { shares: 2 } })).toEqual({});
  });

  it('stats: total and per-cpu in ns, user/system ticks * 1e7', () => {
    put('cpuacct.usage', '1436398885052\n');
    put('cpuacct.usage_percpu', '678302737408 758096147644 \n');
    put('cpuacct.stat', 'user 85665\nsystem 57974\n');
    const stats: Stats = { cpu: { throttling: { periods: 1 } } };
    cpuacctController.stats?.(dir, stats);
    expect(stats.cpu).toEqual({
      throttling: { periods: 1 },
      usage: {
        total: 1436398885052,
        percpu: [678302737408, 758096147644],
        user: 856650000000,
        kernel: 579740000000,
      },
    });
  });
});

// --- cpuset -------------------------------------------------------------------------------------

describe('cpuset', () => {
  beforeEach(() => {
    put('cpuset.cpus', '0-1\n');
    put('cpuset.mems', '0\n');
  });

  it('cpus -> cpuset.cpus, mems -> cpuset.mems', () => {
    expect(applyAndDiff(cpusetController, { cpu: { cpus: '1', mems: '0' } })).toEqual({
      'cpuset.cpus': '1',
      'cpuset.mems': '0',
    });
    expect(applyAndDiff(cpusetController, { cpu: { cpus: '0' } })).toEqual({ 'cpuset.cpus': '0' });
  });

  it('leaves the files alone for absent or empty cpus/mems', () => {
    expect(applyAndDiff(cpusetController, { cpu: { shares: 100 } })).toEqual({});
    expect(applyAndDiff(cpusetController, { cpu: { cpus: '', mems: '' } })).toEqual({});
    expect(writes).toEqual([]);
  });

  it('initCpusetDir fills new directories from their parents, top down', () => {
    // dir plays the hierarchy root (its parent has no cpuset files); a/b/c are new cgroups.
    const a = path.join(dir, 'a');
    const c = path.join(a, 'b', 'c');
    fs.mkdirSync(c, { recursive: true });
    for (const d of [a, path.join(a, 'b'), c]) {
      put('cpuset.cpus', '\n', d);
      put('cpuset.mems', '\n', d);
    }
    initCpusetDir(c);
    for (const d of [a, path.join(a, 'b'), c]) {
      expect(read('cpuset.cpus', d)).toBe('0-1');
      expect(read('cpuset.mems', d)).toBe('0');
    }
  });

  it('initCpusetDir keeps what is set already and stops at the hierarchy root', () => {
    const a = path.join(dir, 'a');
    const b = path.join(a, 'b');
    fs.mkdirSync(b, { recursive: true });
    put('cpuset.cpus', '1\n', a);
    put('cpuset.mems', '0\n', a);
    put('cpuset.cpus', '\n', b);
    put('cpuset.mems', '\n', b);
    initCpusetDir(b);
    expect(read('cpuset.cpus', b)).toBe('1');
    expect(read('cpuset.mems', b)).toBe('0');
    expect(read('cpuset.cpus', a)).toBe('1\n');
    writes.length = 0;
    initCpusetDir(dir); // the root itself: nothing above it to copy from
    expect(writes).toEqual([]);
  });
});

// --- pids ---------------------------------------------------------------------------------------

describe('pids', () => {
  beforeEach(() => put('pids.max', 'max\n'));

  it('limit -> pids.max; -1 -> "max"; 0 (not set, as in runc) leaves it', () => {
    expect(applyAndDiff(pidsController, { pids: { limit: 10 } })).toEqual({ 'pids.max': '10' });
    expect(applyAndDiff(pidsController, { pids: { limit: -1 } })).toEqual({ 'pids.max': 'max' });
    put('pids.max', '10\n');
    expect(applyAndDiff(pidsController, { pids: { limit: 0 } }, UPDATE)).toEqual({});
  });

  it('leaves pids.max alone without pids', () => {
    expect(applyAndDiff(pidsController, { memory: { limit: 1 } })).toEqual({});
  });

  it('stats: current and limit ("max" is 0, runc\'s "no limit")', () => {
    put('pids.current', '4\n');
    put('pids.max', '10\n');
    const stats: Stats = {};
    pidsController.stats?.(dir, stats);
    expect(stats.pids).toEqual({ current: 4, limit: 10 });
    put('pids.max', 'max\n');
    pidsController.stats?.(dir, stats);
    expect(stats.pids).toEqual({ current: 4, limit: 0 });
  });
});

// --- blkio --------------------------------------------------------------------------------------

const BLKIO_FILES = [
  'blkio.weight',
  'blkio.leaf_weight',
  'blkio.weight_device',
  'blkio.leaf_weight_device',
  'blkio.throttle.read_bps_device',
  'blkio.throttle.write_bps_device',
  'blkio.throttle.read_iops_device',
  'blkio.throttle.write_iops_device',
];

describe('blkio', () => {
  beforeEach(() => {
    for (const file of BLKIO_FILES) put(file, '');
  });

  it('weight -> blkio.weight, leafWeight -> blkio.leaf_weight', () => {
    expect(applyAndDiff(blkioController, { blockIO: { weight: 500, leafWeight: 300 } })).toEqual({
      'blkio.weight': '500',
      'blkio.leaf_weight': '300',
    });
  });

  it('without blkio.weight (BFQ kernels): blkio.bfq.weight and blkio.bfq.weight_device', () => {
    fs.rmSync(path.join(dir, 'blkio.weight'));
    fs.rmSync(path.join(dir, 'blkio.weight_device'));
    put('blkio.bfq.weight', '100\n');
    put('blkio.bfq.weight_device', '');
    expect(
      applyAndDiff(blkioController, {
        blockIO: { weight: 200, weightDevice: [{ major: 8, minor: 0, weight: 300 }] },
      }),
    ).toEqual({ 'blkio.bfq.weight': '200', 'blkio.bfq.weight_device': '8:0 300' });
  });

  it('weightDevice -> blkio.weight_device and blkio.leaf_weight_device, one write per device', () => {
    blkioController.apply(
      dir,
      {
        blockIO: {
          weightDevice: [
            { major: 8, minor: 0, weight: 600, leafWeight: 400 },
            { major: 8, minor: 16, weight: 200 },
            { major: 253, minor: 0, leafWeight: 100 },
          ],
        },
      },
      CREATE,
    );
    expect(written('blkio.weight_device')).toEqual(['8:0 600', '8:16 200']);
    expect(written('blkio.leaf_weight_device')).toEqual(['8:0 400', '253:0 100']);
    expect(written('blkio.weight')).toEqual([]);
  });

  it('throttle devices -> the four blkio.throttle.* files, "major:minor rate"', () => {
    blkioController.apply(
      dir,
      {
        blockIO: {
          throttleReadBpsDevice: [
            { major: 8, minor: 0, rate: 1048576 },
            { major: 8, minor: 16, rate: 2097152 },
          ],
          throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 524288 }],
          throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
          throttleWriteIOPSDevice: [{ major: 8, minor: 0 }],
        },
      },
      CREATE,
    );
    expect(writes).toEqual([
      ['blkio.throttle.read_bps_device', '8:0 1048576'],
      ['blkio.throttle.read_bps_device', '8:16 2097152'],
      ['blkio.throttle.write_bps_device', '8:0 524288'],
      ['blkio.throttle.read_iops_device', '8:0 100'],
      ['blkio.throttle.write_iops_device', '8:0 0'],
    ]);
  });

  it('leaves every file alone for an empty blockIO and 0 weights', () => {
    expect(applyAndDiff(blkioController, { blockIO: {} })).toEqual({});
    expect(applyAndDiff(blkioController, { blockIO: { weight: 0, leafWeight: 0 } })).toEqual({});
    expect(writes).toEqual([]);
  });

  it('parses stat lines, skipping "Total" and malformed lines', () => {
    expect(
      parseBlkioStat('8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:16 512\nTotal 12288\ngarbage\n'),
    ).toEqual([
      { major: 8, minor: 0, op: 'Read', value: 4096 },
      { major: 8, minor: 0, op: 'Write', value: 8192 },
      { major: 8, minor: 0, op: 'Sync', value: 12288 },
      { major: 8, minor: 16, op: '', value: 512 },
    ]);
    expect(parseBlkioStat(null)).toEqual([]);
    expect(parseBlkioStat('Total 0\n')).toEqual([]);
  });

  it('stats: throttle recursive files, BFQ files that only say "Total 0" are passed over', () => {
    put('blkio.bfq.io_service_bytes_recursive', 'Total 0\n');
    put('blkio.bfq.io_serviced_recursive', 'Total 0\n');
    put(
      'blkio.throttle.io_service_bytes_recursive',
      '253:0 Read 1597440\n253:0 Write 0\n253:0 Sync 1597440\n253:0 Async 0\n253:0 Discard 0\n253:0 Total 1597440\nTotal 1597440\n',
    );
    put('blkio.throttle.io_serviced_recursive', '253:0 Read 52\n253:0 Write 0\nTotal 52\n');
    put('blkio.throttle.io_service_bytes', '253:0 Read 1\nTotal 1\n');
    const stats: Stats = {};
    blkioController.stats?.(dir, stats);
    expect(stats.blkio?.ioServiceBytesRecursive).toContainEqual({
      major: 253,
      minor: 0,
      op: 'Read',
      value: 1597440,
    });
    expect(stats.blkio?.ioServiceBytesRecursive).toHaveLength(6);
    expect(stats.blkio?.ioServicedRecursive).toEqual([
      { major: 253, minor: 0, op: 'Read', value: 52 },
      { major: 253, minor: 0, op: 'Write', value: 0 },
    ]);
  });

  it('stats: the plain throttle files when there are no recursive ones; empty lists when idle', () => {
    put('blkio.throttle.io_service_bytes', '8:0 Read 100\nTotal 100\n');
    put('blkio.throttle.io_serviced', '8:0 Read 1\nTotal 1\n');
    const stats: Stats = {};
    blkioController.stats?.(dir, stats);
    expect(stats.blkio).toEqual({
      ioServiceBytesRecursive: [{ major: 8, minor: 0, op: 'Read', value: 100 }],
      ioServicedRecursive: [{ major: 8, minor: 0, op: 'Read', value: 1 }],
    });
    put('blkio.throttle.io_service_bytes', 'Total 0\n');
    const idle: Stats = {};
    blkioController.stats?.(dir, idle);
    expect(idle.blkio).toEqual({ ioServiceBytesRecursive: [], ioServicedRecursive: [] });
  });
});

// --- hugetlb ------------------------------------------------------------------------------------

describe('hugetlb', () => {
  beforeEach(() => {
    for (const size of ['2MB', '1GB']) {
      put(`hugetlb.${size}.limit_in_bytes`, UNLIMITED_V1);
      put(`hugetlb.${size}.rsvd.limit_in_bytes`, UNLIMITED_V1);
    }
  });

  it('hugepageLimits -> hugetlb.<size>.limit_in_bytes and its .rsvd twin', () => {
    expect(
      applyAndDiff(hugetlbController, {
        hugepageLimits: [
          { pageSize: '2MB', limit: 209715200 },
          { pageSize: '1GB', limit: 1073741824 },
        ],
      }),
    ).toEqual({
      'hugetlb.2MB.limit_in_bytes': '209715200',
      'hugetlb.2MB.rsvd.limit_in_bytes': '209715200',
      'hugetlb.1GB.limit_in_bytes': '1073741824',
      'hugetlb.1GB.rsvd.limit_in_bytes': '1073741824',
    });
  });

  it('without reservation accounting only the plain file', () => {
    fs.rmSync(path.join(dir, 'hugetlb.2MB.rsvd.limit_in_bytes'));
    expect(
      applyAndDiff(hugetlbController, { hugepageLimits: [{ pageSize: '2MB', limit: 2097152 }] }),
    ).toEqual({
      'hugetlb.2MB.limit_in_bytes': '2097152',
    });
  });

  it('an unknown page size names the config field', () => {
    expect(() =>
      hugetlbController.apply(dir, { hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, CREATE),
    ).toThrow(
      'linux.resources.hugepageLimits[0].pageSize: page size "2M" is not supported here (no hugetlb.2M.limit_in_bytes)',
    );
  });

  it('leaves the files alone without hugepageLimits', () => {
    expect(applyAndDiff(hugetlbController, { hugepageLimits: [] })).toEqual({});
  });

  it('stats per page size, from the .rsvd files when present', () => {
    put('hugetlb.2MB.rsvd.usage_in_bytes', '4194304\n');
    put('hugetlb.2MB.rsvd.max_usage_in_bytes', '6291456\n');
    put('hugetlb.2MB.rsvd.failcnt', '2\n');
    put('hugetlb.2MB.usage_in_bytes', '2097152\n');
    put('hugetlb.1GB.usage_in_bytes', '0\n');
    put('hugetlb.1GB.max_usage_in_bytes', '0\n');
    put('hugetlb.1GB.failcnt', '0\n');
    const stats: Stats = {};
    hugetlbController.stats?.(dir, stats);
    expect(stats.hugetlb).toEqual({
      '1GB': { usage: 0, max: 0, failcnt: 0 },
      '2MB': { usage: 4194304, max: 6291456, failcnt: 2 },
    });
  });
});

// --- net_cls, net_prio, rdma --------------------------------------------------------------------

describe('net_cls / net_prio / rdma', () => {
  beforeEach(() => {
    put('net_cls.classid', '0\n');
    put('net_prio.ifpriomap', 'lo 0\neth0 0\n');
    put('rdma.max', '');
  });

  it('network.classID -> net_cls.classid', () => {
    expect(applyAndDiff(netClsController, { network: { classID: 1048577 } })).toEqual({
      'net_cls.classid': '1048577',
    });
    expect(applyAndDiff(netClsController, { network: { priorities: [] } })).toEqual({});
  });

  it('network.priorities -> net_prio.ifpriomap, one "name prio" write each', () => {
    netPrioController.apply(
      dir,
      {
        network: {
          priorities: [
            { name: 'eth0', priority: 500 },
            { name: 'lo', priority: 1000 },
          ],
        },
      },
      CREATE,
    );
    expect(writes).toEqual([
      ['net_prio.ifpriomap', 'eth0 500'],
      ['net_prio.ifpriomap', 'lo 1000'],
    ]);
    writes.length = 0;
    netPrioController.apply(dir, { network: { classID: 1 } }, CREATE);
    expect(writes).toEqual([]);
  });

  it('rdma -> rdma.max, "dev hca_handle=N hca_object=M" per device', () => {
    rdmaController.apply(
      dir,
      {
        rdma: {
          mlx5_0: { hcaHandles: 3, hcaObjects: 10000 },
          mlx5_1: { hcaHandles: 2 },
          mlx5_2: { hcaObjects: 5 },
          mlx5_3: {},
        },
      },
      CREATE,
    );
    expect(writes).toEqual([
      ['rdma.max', 'mlx5_0 hca_handle=3 hca_object=10000'],
      ['rdma.max', 'mlx5_1 hca_handle=2'],
      ['rdma.max', 'mlx5_2 hca_object=5'],
    ]);
    writes.length = 0;
    rdmaController.apply(dir, {}, CREATE);
    expect(writes).toEqual([]);
  });
});

// --- devices ------------------------------------------------------------------------------------

describe('devices', () => {
  beforeEach(() => {
    put('devices.allow', '');
    put('devices.deny', '');
  });

  it('denies everything first, then writes the config rules and the defaults in order', () => {
    const resources: LinuxResources = {
      devices: [
        { allow: false, access: 'rwm' },
        { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
        { allow: false, type: 'b', major: 8, access: 'w' },
      ],
    };
    devicesController.apply(dir, resources, CREATE);
    expect(writes.slice(0, 4)).toEqual([
      ['devices.deny', 'a'],
      ['devices.deny', 'a *:* rwm'],
      ['devices.allow', 'c 10:229 rw'],
      ['devices.deny', 'b 8:* w'],
    ]);
    expect(writes.slice(4)).toEqual([
      ['devices.allow', 'c *:* m'],
      ['devices.allow', 'b *:* m'],
      ['devices.allow', 'c 1:3 rwm'],
      ['devices.allow', 'c 1:8 rwm'],
      ['devices.allow', 'c 1:7 rwm'],
      ['devices.allow', 'c 5:0 rwm'],
      ['devices.allow', 'c 1:5 rwm'],
      ['devices.allow', 'c 1:9 rwm'],
      ['devices.allow', 'c 5:1 rwm'],
      ['devices.allow', 'c 136:* rwm'],
      ['devices.allow', 'c 5:2 rwm'],
      ['devices.allow', 'c 10:200 rwm'],
    ]);
    expect(deviceWrites(resources)).toEqual(writes);
  });

  it('an update with device rules rewrites the whole sequence again', () => {
    const rules = { devices: [{ allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' }] };
    devicesController.apply(dir, rules, CREATE);
    const first = [...writes];
    writes.length = 0;
    devicesController.apply(dir, rules, UPDATE);
    expect(writes).toEqual(first);
    expect(first[0]).toEqual(['devices.deny', 'a']);
  });

  it('an update without device rules leaves the devices cgroup alone', () => {
    devicesController.apply(dir, { memory: { limit: 1 } }, UPDATE);
    expect(writes).toEqual([]);
  });

  it("takes runc's access strings (any order, repeats) and writes each letter once, in order", () => {
    const resources: LinuxResources = {
      devices: [
        { allow: true, type: 'b', major: 7, minor: 0, access: 'wr' },
        { allow: true, type: 'b', major: 7, minor: 1, access: 'mwr' },
        { allow: true, type: 'b', major: 7, minor: 2, access: 'rrrw' },
      ],
    };
    expect(deviceWrites(resources).slice(1, 4)).toEqual([
      ['devices.allow', 'b 7:0 rw'],
      ['devices.allow', 'b 7:1 rwm'],
      ['devices.allow', 'b 7:2 rw'],
    ]);
    for (const access of ['', 'x', 'rwx', 'RW']) {
      expect(() => deviceWrites({ devices: [{ allow: true, access }] })).toThrow(
        `linux.resources.devices[0].access: ${JSON.stringify(access)} must be made of r, w and m`,
      );
    }
  });
});

describe('device rule transitions (the kernel model, as runc emulates it)', () => {
  const rules = (...devices: NonNullable<LinuxResources['devices']>) => ({ devices });
  /** devices.list as the kernel shows the state `resources` set. */
  const listOf = (resources: LinuxResources) =>
    [...playDeviceWrites(deviceWrites(resources)).exceptions].map(([k, a]) => `${k} ${a}`).join('\n');

  it('plays the kernel: "a" resets, a rule against the default adds, one with it removes (exact key)', () => {
    const state = playDeviceWrites([
      ['devices.deny', 'a'],
      ['devices.allow', 'c *:* m'],
      ['devices.allow', 'c 1:3 r'],
      ['devices.allow', 'c 1:3 w'],
      ['devices.deny', 'c 1:3 r'],
      // Exact keys only: this leaves "c *:* m" alone.
      ['devices.deny', 'c 1:5 m'],
    ]);
    expect(state).toEqual({
      allowByDefault: false,
      exceptions: new Map([
        ['c *:*', 'm'],
        ['c 1:3', 'w'],
      ]),
    });
    expect(parseDevicesList('c *:* m\nc 1:3 w\n')).toEqual(state);
    expect(parseDevicesList('a *:* rwm\n')).toBeNull();
  });

  it('from the rules in place to new ones: access gained first, then dropped; no "a" write', () => {
    const before = rules(
      { allow: false, access: 'rwm' },
      { allow: true, type: 'b', major: 7, minor: 0, access: 'rwm' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' },
    );
    const after = rules(
      { allow: false, access: 'rwm' },
      { allow: true, type: 'b', major: 7, minor: 0, access: 'r' },
      { allow: true, type: 'b', major: 7, minor: 1, access: 'rw' },
      { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
    );
    const writes = deviceTransition(listOf(before), after);
    expect(writes).toEqual([
      ['devices.allow', 'b 7:1 rw'],
      ['devices.allow', 'c 10:229 m'],
      ['devices.deny', 'b 7:0 wm'],
    ]);
    // Nothing the new rules allow (the default list included) is denied on the way.
    const kept = playDeviceWrites(deviceWrites(after)).exceptions;
    for (const [file, line] of writes) {
      if (file !== 'devices.deny') continue;
      const [type, numbers, access] = line.split(' ');
      for (const letter of access) expect(kept.get(`${type} ${numbers}`) ?? '').not.toContain(letter);
    }
    // The result is exactly the new rules; the same rules again write nothing.
    expect(playDeviceWrites(writes, parseDevicesList(listOf(before))!)).toEqual(
      playDeviceWrites(deviceWrites(after)),
    );
    expect(deviceTransition(listOf(after), after)).toEqual([]);
  });

  it('an allow-all target: "a" to devices.allow, then its deny exceptions; unknown state: the whole sequence', () => {
    const privileged = rules(
      { allow: true, access: 'rwm' },
      { allow: false, type: 'c', major: 10, minor: 229, access: 'w' },
    );
    expect(deviceTransition('c 1:3 rwm\n', privileged)).toEqual([
      ['devices.allow', 'a'],
      ['devices.deny', 'c 10:229 w'],
    ]);
    const plain = rules({ allow: false, access: 'rwm' });
    expect(deviceTransition(null, plain)).toEqual(deviceWrites(plain));
    // A default-allow cgroup's exceptions are not listed: start over with "a".
    expect(deviceTransition('a *:* rwm\n', plain)).toEqual(deviceWrites(plain));
  });
});

// --- freezer ------------------------------------------------------------------------------------

describe('freezer', () => {
  beforeEach(() => {
    put('freezer.state', 'THAWED\n');
    put('freezer.self_freezing', '0\n');
    put('freezer.parent_freezing', '0\n');
  });

  it('has no resources to apply', () => {
    expect(applyAndDiff(freezerController, { memory: { limit: 1 }, pids: { limit: 1 } })).toEqual({});
  });

  it('freeze writes FROZEN and returns once it reads back; thaw writes THAWED', async () => {
    await freeze(dir);
    expect(read('freezer.state')).toBe('FROZEN');
    put('freezer.self_freezing', '1\n');
    expect(await freezerState(dir)).toBe('FROZEN');
    await thaw(dir);
    expect(read('freezer.state')).toBe('THAWED');
    expect(await freezerState(dir)).toBe('THAWED');
  });

  it('keeps writing FROZEN while the kernel says FREEZING', async () => {
    let left = 3;
    hooks.set('freezer.state', (value) => (value === 'FROZEN' && left-- > 0 ? 'FREEZING' : value));
    await freeze(dir);
    expect(written('freezer.state')).toEqual(['FROZEN', 'FROZEN', 'FROZEN', 'FROZEN']);
    expect(read('freezer.state')).toBe('FROZEN');
  });

  it('gives up after the timeout, thaws back and says so', async () => {
    hooks.set('freezer.state', (value) => (value === 'FROZEN' ? 'FREEZING' : value));
    await expect(freeze(dir, 30)).rejects.toThrow(
      `cgroup: timed out after 30 ms waiting for ${dir} to freeze (freezer.state: FREEZING)`,
    );
    expect(written('freezer.state').at(-1)).toBe('THAWED');
    expect(read('freezer.state')).toBe('THAWED');
  });

  it('thaw times out clearly when the state stays FROZEN (a frozen parent)', async () => {
    hooks.set('freezer.state', () => 'FROZEN');
    await expect(thaw(dir, 20)).rejects.toThrow(
      /waiting for .* to thaw \(freezer.state: FROZEN; is a parent cgroup frozen\?\)/,
    );
  });

  it('a cgroup frozen only through its parent reports THAWED (runc)', async () => {
    put('freezer.state', 'FROZEN\n');
    put('freezer.parent_freezing', '1\n');
    expect(await freezerState(dir)).toBe('THAWED');
  });

  it('no freezer.state: a clear error', async () => {
    fs.rmSync(path.join(dir, 'freezer.state'));
    await expect(freeze(dir)).rejects.toThrow(`cgroup: freezer not supported: no freezer.state in ${dir}`);
    expect(FREEZE_TIMEOUT_MS).toBeGreaterThan(1000);
  });
});
