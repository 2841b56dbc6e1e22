// cgroup v1 rdma controller (runc libcontainer/cgroups/fscommon/rdma.go): one rdma.max write
// per device, "<device> hca_handle=N hca_object=M"; the line format is v2's too.
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller } from '../types';
import { rdmaLine } from '../v2/rdma';

export const rdmaController: Controller = {
  name: 'rdma',

  apply(dir: string, resources: LinuxResources): void {
    for (const [device, limits] of Object.entries(resources.rdma ?? {})) {
      // A device with neither limit would be a bare name, which the kernel refuses.
      if (limits.hcaHandles === undefined && limits.hcaObjects === undefined) continue;
      writeCgroupFile(dir, 'rdma.max', rdmaLine(device, limits));
    }
  },
};
