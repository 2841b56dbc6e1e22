// cgroup v1 net_prio controller (runc libcontainer/cgroups/fs/net_prio.go): one
// net_prio.ifpriomap write per interface, "<name> <priority>" (the kernel takes one per write).
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller } from '../types';

export const netPrioController: Controller = {
  name: 'net_prio',

  apply(dir: string, resources: LinuxResources): void {
    for (const { name, priority } of resources.network?.priorities ?? []) {
      writeCgroupFile(dir, 'net_prio.ifpriomap', `${name} ${priority}`);
    }
  },
};
