// cgroup v2 cpu controller: cpu.weight (from shares), cpu.max, cpu.max.burst, cpu.idle; stats
// from cpu.stat (runc fs2/cpu.go). Realtime runtime/period have no v2 file: an error.
import type { LinuxCPU, LinuxResources } from '../../spec/types';
import { readCgroupFileOrNull, readKeyValues, writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { unsupportedOnV2 } from './common';

/** The period cpu.max gets when only a quota is given (the kernel's default). */
export const DEFAULT_CPU_PERIOD = 100000;

/**
 * cpu.weight (1..10000) from v1 cpu.shares (2..262144), runc's linear mapping: 2 -> 1,
 * 1024 -> 39, 262144 -> 10000. 0 means "not set" (returns 0); shares outside v1's range are
 * clamped to it first, as the v1 kernel would.
 */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const clamped = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

/** The cpu.max line: "<quota|max> <period>". */
export function cpuMaxLine(
  quota: number | undefined,
  period: number | undefined,
  current: string | null,
): string {
  let quotaText: string;
  if (quota !== undefined && quota !== 0) {
    quotaText = quota > 0 ? String(quota) : 'max';
  } else {
    // Only the period changes: keep the quota in force (a new cgroup has "max").
    quotaText = current?.trim().split(/\s+/)[0] || 'max';
  }
  const p = period !== undefined && period !== 0 ? period : DEFAULT_CPU_PERIOD;
  return `${quotaText} ${p}`;
}

function checkUnsupported(cpu: LinuxCPU): void {
  // 0 asks for nothing (runc's update flags send 0 when unset): only a real value is refused.
  if (cpu.realtimeRuntime) throw unsupportedOnV2('cpu.realtimeRuntime', 'no cpu.rt_runtime_us in cgroup v2');
  if (cpu.realtimePeriod) throw unsupportedOnV2('cpu.realtimePeriod', 'no cpu.rt_period_us in cgroup v2');
}

export const cpuV2: Controller = {
  name: 'cpu',

  apply(dir: string, resources: LinuxResources): void {
    const cpu = resources.cpu;
    if (!cpu) return;
    checkUnsupported(cpu);

    if (cpu.idle !== undefined) writeCgroupFile(dir, 'cpu.idle', cpu.idle);
    if (cpu.shares) writeCgroupFile(dir, 'cpu.weight', sharesToWeight(cpu.shares));

    const setsMax = Boolean(cpu.quota) || Boolean(cpu.period);
    let burstPending = false;
    if (cpu.burst !== undefined) {
      try {
        writeCgroupFile(dir, 'cpu.max.burst', cpu.burst);
      } catch (error) {
        // A burst above the current quota is refused (EINVAL) until the new quota is in:
        // retry after cpu.max when one is being written (runc does the same).
        if (!setsMax || !/invalid argument/.test((error as Error).message)) throw error;
        burstPending = true;
      }
    }
    if (setsMax) {
      writeCgroupFile(
        dir,
        'cpu.max',
        cpuMaxLine(cpu.quota, cpu.period, readCgroupFileOrNull(dir, 'cpu.max')),
      );
      if (burstPending) writeCgroupFile(dir, 'cpu.max.burst', cpu.burst as number);
    }
  },

  stats(dir: string, stats: Stats): void {
    const values = readKeyValues(dir, 'cpu.stat');
    if (values.usage_usec === undefined) return;
    const ns = (usec: number | undefined) => (usec ?? 0) * 1000;
    stats.cpu = {
      ...stats.cpu,
      usage: { total: ns(values.usage_usec), kernel: ns(values.system_usec), user: ns(values.user_usec) },
      throttling: {
        periods: values.nr_periods ?? 0,
        throttled_periods: values.nr_throttled ?? 0,
        throttled_time: ns(values.throttled_usec),
      },
    };
  },
};
