// cgroup v1 cpuset controller (runc libcontainer/cgroups/fs/cpuset.go): cpuset.cpus and
// cpuset.mems from linux.resources.cpu.cpus/mems (an empty string means "not set").
//
// A new v1 cpuset cgroup starts with empty cpuset.cpus and cpuset.mems, and the kernel refuses
// to move a task into a cpuset with no cpus or no mems (ENOSPC). So every directory the runtime
// creates is filled from its parent first (initCpusetDir), from the top down, as runc's
// ensureParent does; the config's values, if any, then narrow them.
import * as path from 'node:path';

import type { LinuxResources } from '../../spec/types';
import { readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { Controller } from '../types';

const CPUSET_FILES = ['cpuset.cpus', 'cpuset.mems'] as const;

/**
 * Copy cpuset.cpus and cpuset.mems from the parent into `dir` where they are empty, first doing
 * the same for every ancestor up to the hierarchy's root (the first directory without cpuset
 * files above is outside the hierarchy). Directories already set are left alone.
 */
export function initCpusetDir(dir: string): void {
  const parent = path.dirname(dir);
  if (parent === dir || readCgroupFileOrNull(parent, 'cpuset.cpus') === null) return;
  initCpusetDir(parent);
  for (const file of CPUSET_FILES) {
    const own = readCgroupFileOrNull(dir, file);
    if (own !== '') continue; // set already, or not a cpuset directory
    const inherited = readCgroupFileOrNull(parent, file);
    if (inherited) writeCgroupFile(dir, file, inherited);
  }
}

export const cpusetController: Controller = {
  name: 'cpuset',

  apply(dir: string, resources: LinuxResources): void {
    const cpu = resources.cpu;
    if (!cpu) return;
    if (cpu.cpus) writeCgroupFile(dir, 'cpuset.cpus', cpu.cpus);
    if (cpu.mems) writeCgroupFile(dir, 'cpuset.mems', cpu.mems);
  },
};
