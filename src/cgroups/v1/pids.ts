// The pids controller, v1 and v2 alike (same files; runc libcontainer/cgroups/fs/pids.go): pids.max is the limit when
// it is positive and "max" when negative; 0 is runc's "not set" and leaves the file alone (an
// update with 0 keeps the limit; a new cgroup's pids.max is "max" already). Stats:
// pids.current, and pids.max with "max" reported as 0 (runc's "no limit").
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { readUint } from './common';

export const pidsController: Controller = {
  name: 'pids',

  apply(dir: string, resources: LinuxResources): void {
    const pids = resources.pids;
    if (!pids || pids.limit === 0) return;
    writeCgroupFile(dir, 'pids.max', pids.limit > 0 ? String(pids.limit) : 'max');
  },

  stats(dir: string, stats: Stats): void {
    const current = readUint(dir, 'pids.current');
    if (current === undefined) return;
    // readUint leaves "max" undefined.
    stats.pids = { current, limit: readUint(dir, 'pids.max') ?? 0 };
  },
};
