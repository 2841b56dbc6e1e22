// cgroup v1 cpuacct controller (runc libcontainer/cgroups/fs/cpuacct.go): no resources, only
// stats. cpuacct.usage and cpuacct.usage_percpu are in ns; cpuacct.stat's user/system are in
// USER_HZ ticks, which runc converts as ticks * 1e9 / 100 (USER_HZ is 100 on every Linux ABI
// Go's runtime supports, and `getconf CLK_TCK` says 100 here too).
import { readKeyValues } from '../fs';
import type { Controller, Stats } from '../types';
import { readUint, readUintList } from './common';

const NANOSECONDS_PER_TICK = 1e9 / 100;

export const cpuacctController: Controller = {
  name: 'cpuacct',

  apply(): void {
    // Accounting only: nothing to write.
  },

  stats(dir: string, stats: Stats): void {
    const total = readUint(dir, 'cpuacct.usage');
    if (total === undefined) return;
    const ticks = readKeyValues(dir, 'cpuacct.stat');
    stats.cpu = {
      ...stats.cpu,
      usage: {
        total,
        percpu: readUintList(dir, 'cpuacct.usage_percpu'),
        kernel: (ticks.system ?? 0) * NANOSECONDS_PER_TICK,
        user: (ticks.user ?? 0) * NANOSECONDS_PER_TICK,
      },
    };
  },
};
