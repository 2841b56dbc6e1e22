// cgroup v1 net_cls controller (runc libcontainer/cgroups/fs/net_cls.go): the class id tagged
// on the container's packets, net_cls.classid. 0 means "not set" (as in runc).
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller } from '../types';

export const netClsController: Controller = {
  name: 'net_cls',

  apply(dir: string, resources: LinuxResources): void {
    const classID = resources.network?.classID;
    if (classID) writeCgroupFile(dir, 'net_cls.classid', classID);
  },
};
