// The cgroup v2 controllers, in the order they apply, and the v2 freezer.
// `unified` comes last so the config's explicit key/values override what the others wrote.
// `devices` is not a cgroup.controllers entry: it is the eBPF device filter (pure v2 only; a
// hybrid host's v1 devices hierarchy does that job and the hybrid manager never picks it).
import type { Controller } from '../types';
import { cpuV2 } from './cpu';
import { cpusetV2 } from './cpuset';
import { devicesV2 } from './devices';
import { hugetlbV2 } from './hugetlb';
import { ioV2 } from './io';
import { memoryV2 } from './memory';
// pids.max and pids.current are the same files on both layouts: one controller serves both.
import { pidsController as pidsV2 } from '../v1/pids';
import { rdmaV2 } from './rdma';
import { unifiedV2 } from './unified';

export const V2_CONTROLLERS: Controller[] = [
  pidsV2,
  memoryV2,
  ioV2,
  cpuV2,
  devicesV2,
  cpusetV2,
  hugetlbV2,
  rdmaV2,
  unifiedV2,
];

export { freeze, thaw, isFrozen, FREEZE_TIMEOUT_MS } from './freezer';
export { UNLIMITED } from './common';
export { memoryV2, swapToV2 } from './memory';
export { cpuV2, sharesToWeight, cpuMaxLine, DEFAULT_CPU_PERIOD } from './cpu';
export { cpusetV2 } from './cpuset';
export { pidsController as pidsV2 } from '../v1/pids';
export { ioV2, blkioWeightToIoWeight } from './io';
export { hugetlbV2, hugePageSizes } from './hugetlb';
export { rdmaV2 } from './rdma';
export { unifiedV2 } from './unified';
export { devicesV2, installDeviceFilter, attachedDeviceFilters } from './devices';
export { deviceFilterProgram, compileDeviceRules } from './devices-bpf';
