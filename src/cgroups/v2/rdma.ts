// cgroup v2 rdma controller: one rdma.max line per device, "<device> hca_handle=N hca_object=M"
// (the same format as v1's rdma.max).
import type { LinuxResources } from '../../spec/types';
import { writeCgroupFile } from '../fs';
import type { Controller } from '../types';

export function rdmaLine(device: string, limits: { hcaHandles?: number; hcaObjects?: number }): string {
  let line = device;
  if (limits.hcaHandles !== undefined) line += ` hca_handle=${limits.hcaHandles}`;
  if (limits.hcaObjects !== undefined) line += ` hca_object=${limits.hcaObjects}`;
  return line;
}

export const rdmaV2: Controller = {
  name: 'rdma',

  apply(dir: string, resources: LinuxResources): void {
    for (const [device, limits] of Object.entries(resources.rdma ?? {})) {
      if (limits.hcaHandles === undefined && limits.hcaObjects === undefined) continue;
      writeCgroupFile(dir, 'rdma.max', rdmaLine(device, limits));
    }
  },
};
