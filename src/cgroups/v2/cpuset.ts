// cgroup v2 cpuset controller: cpuset.cpus and cpuset.mems, as given.
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller } from '../types';

export const cpusetV2: Controller = {
  name: 'cpuset',

  apply(dir: string, resources: LinuxResources): void {
    const cpu = resources.cpu;
    if (cpu?.cpus) writeCgroupFile(dir, 'cpuset.cpus', cpu.cpus);
    if (cpu?.mems) writeCgroupFile(dir, 'cpuset.mems', cpu.mems);
  },
};
