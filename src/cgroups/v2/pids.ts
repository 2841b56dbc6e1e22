// cgroup v2 pids controller: pids.max; stats from pids.current and pids.max.
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { UNLIMITED, readLimit } from './common';

export const pidsV2: Controller = {
  name: 'pids',

  apply(dir: string, resources: LinuxResources): void {
    const pids = resources.pids;
    if (!pids) return;
    // The spec: a limit of 0 or below is "no limit".
    writeCgroupFile(dir, 'pids.max', pids.limit > 0 ? String(pids.limit) : 'max');
  },

  stats(dir: string, stats: Stats): void {
    const current = readLimit(dir, 'pids.current');
    if (current === undefined) return;
    const max = readLimit(dir, 'pids.max');
    // runc reports "no limit" for pids as 0.
    stats.pids = { current, limit: max === undefined || max === UNLIMITED ? 0 : max };
  },
};
