// The cgroup v1 controllers, in the order they apply (runc's fs subsystem order). cpuset comes
// first: a task cannot join a cpuset cgroup whose cpus or mems are empty, and the cpus/mems
// must be in place before anything else relies on the cgroup. devices comes early so the
// container's device access is restricted before the rest of the setup.
// Each controller's `name` is its hierarchy's directory / mount option name; the manager picks
// the ones a hierarchy ("cpu,cpuacct", "memory"...) holds.
import type { Controller } from '../types';
import { blkioController } from './blkio';
import { cpuController } from './cpu';
import { cpuacctController } from './cpuacct';
import { cpusetController } from './cpuset';
import { devicesController } from './devices';
import { freezerController } from './freezer';
import { hugetlbController } from './hugetlb';
import { memoryController } from './memory';
import { netClsController } from './net_cls';
import { netPrioController } from './net_prio';
import { pidsController } from './pids';
import { rdmaController } from './rdma';

export const V1_CONTROLLERS: Controller[] = [
  cpusetController,
  devicesController,
  memoryController,
  cpuController,
  cpuacctController,
  pidsController,
  blkioController,
  hugetlbController,
  netClsController,
  netPrioController,
  freezerController,
  rdmaController,
];

export { initCpusetDir, cpusetController } from './cpuset';
export { freeze, thaw, freezerState, freezerController, FREEZE_TIMEOUT_MS } from './freezer';
export type { FreezerState } from './freezer';
export { memoryController } from './memory';
export { cpuController } from './cpu';
export { cpuacctController } from './cpuacct';
export { pidsController } from './pids';
export { blkioController, parseBlkioStat } from './blkio';
export { hugetlbController, hugePageSizesV1 } from './hugetlb';
export { netClsController } from './net_cls';
export { netPrioController } from './net_prio';
export { rdmaController } from './rdma';
export {
  devicesController,
  deviceWrites,
  deviceTransition,
  playDeviceWrites,
  parseDevicesList,
} from './devices';
export { clampUint, readUint } from './common';
