// cgroup v1 cpu controller (runc libcontainer/cgroups/fs/cpu.go): cpu.shares,
// cpu.cfs_period_us / cpu.cfs_quota_us / cpu.cfs_burst_us, cpu.idle, cpu.rt_period_us /
// cpu.rt_runtime_us. 0 means "not set" for shares, quota, period and the realtime pair (as in
// runc); burst and idle are written whenever given (0 is meaningful for both).
// Stats: throttling from cpu.stat (throttled_time is already in ns on v1).
import { RuntimeError } from '../../errors';
import type { LinuxCPU, LinuxResources } from '../../spec/types';
import { cgroupFileExists, readKeyValues, writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { readUint, resourceError } from './common';

type Write = [file: string, value: number];

/**
 * Write each of `before`, then `main`; one of `before` the kernel refuses while `main` is going
 * to be written is retried after it. The kernel checks these files together: a new period may
 * be refused until the new quota is in (old_quota/new_period above the parent's), a burst above
 * the old quota, a rt period below the old runtime; and a quota below the old burst is refused,
 * so burst cannot simply go last. runc orders and retries the same way; an error that persists
 * surfaces on the retry.
 */
function writeAround(dir: string, before: (Write | undefined)[], main: Write | undefined): void {
  const retry: Write[] = [];
  for (const write of before) {
    if (!write) continue;
    try {
      writeCgroupFile(dir, write[0], write[1]);
    } catch (error) {
      if (!main) throw error;
      retry.push(write);
    }
  }
  if (!main) return;
  writeCgroupFile(dir, main[0], main[1]);
  for (const write of retry) writeCgroupFile(dir, write[0], write[1]);
}

/** The kernel clamps cpu.shares to [2, 262144] silently: read back to report the clamp. */
function setShares(dir: string, shares: number): void {
  writeCgroupFile(dir, 'cpu.shares', shares);
  const actual = readUint(dir, 'cpu.shares');
  if (actual === undefined || actual === shares) return;
  const bound = shares > actual ? 'maximum' : 'minimum';
  throw new RuntimeError(`linux.resources.cpu.shares: the ${bound} allowed cpu-shares is ${actual}`);
}

/** A field whose file only newer kernels have: 0 (the kernel's default) is moot without it. */
function optionalFile(
  dir: string,
  file: string,
  field: string,
  value: number | undefined,
): Write | undefined {
  if (value === undefined) return undefined;
  if (cgroupFileExists(dir, file)) return [file, value];
  if (value === 0) return undefined;
  throw resourceError(field, `not supported by this kernel (no ${file})`);
}

function setBandwidth(dir: string, cpu: LinuxCPU): void {
  const period: Write | undefined = cpu.period ? ['cpu.cfs_period_us', cpu.period] : undefined;
  const quota: Write | undefined = cpu.quota ? ['cpu.cfs_quota_us', cpu.quota] : undefined;
  const burst = optionalFile(dir, 'cpu.cfs_burst_us', 'cpu.burst', cpu.burst);
  writeAround(dir, [period, burst], quota);
}

function setRealtime(dir: string, cpu: LinuxCPU): void {
  const period: Write | undefined = cpu.realtimePeriod ? ['cpu.rt_period_us', cpu.realtimePeriod] : undefined;
  const runtime: Write | undefined = cpu.realtimeRuntime
    ? ['cpu.rt_runtime_us', cpu.realtimeRuntime]
    : undefined;
  writeAround(dir, [period], runtime);
}

export const cpuController: Controller = {
  name: 'cpu',

  apply(dir: string, resources: LinuxResources): void {
    const cpu = resources.cpu;
    if (!cpu) return;
    if (cpu.shares) setShares(dir, cpu.shares);
    setBandwidth(dir, cpu);
    const idle = optionalFile(dir, 'cpu.idle', 'cpu.idle', cpu.idle);
    if (idle) writeCgroupFile(dir, idle[0], idle[1]);
    setRealtime(dir, cpu);
  },

  stats(dir: string, stats: Stats): void {
    if (!cgroupFileExists(dir, 'cpu.stat')) return;
    const values = readKeyValues(dir, 'cpu.stat');
    stats.cpu = {
      ...stats.cpu,
      throttling: {
        periods: values.nr_periods ?? 0,
        throttled_periods: values.nr_throttled ?? 0,
        throttled_time: values.throttled_time ?? 0,
      },
    };
  },
};
