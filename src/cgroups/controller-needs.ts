// Which controller each linux.resources field needs, so that a config asking for a limit this
// host cannot enforce is refused before anything is made (runtime-spec: a runtime that cannot
// create the environment config.json asks for MUST error), instead of the limit being silently
// dropped. Only what a field actually asks for counts: absent fields, empty objects and lists,
// 0 (runc's "not set") and the "no limit" values ask for nothing, since a container without
// the controller already has no limit. Engines (Docker, containerd, podman) send such empty
// sub-objects all the time.
import type { LinuxBlockIO, LinuxResources, LinuxThrottleDevice } from '../spec/types';
import type { RuntimeError } from '../errors';
import type { ApplyContext } from './types';
import { resourceError } from './v2/common';

/** cgroup v2 has no controller for the field: it cannot be honoured there (net_cls, net_prio). */
export const NONE_ON_V2 = null;
/** cgroup v2 needs no controller for the field: tsrunc ignores it there, as runc does
 *  (v2/memory.ts, v2/io.ts), or enforces it without one (devices: eBPF, v2/devices.ts). */
export const NOT_NEEDED_ON_V2 = undefined;

export interface ControllerNeed {
  /** The field below linux.resources: "network.classID". */
  field: string;
  /** The controller on cgroup v1 (its hierarchy's name, as in /proc/cgroups). */
  v1: string;
  /** The controller on cgroup v2 (as in cgroup.controllers). */
  v2: string | typeof NONE_ON_V2 | typeof NOT_NEEDED_ON_V2;
  /** Whether `resources` asks for anything the controller would have to enforce. */
  asks(resources: LinuxResources, ctx: ApplyContext): boolean;
}

/** A limit or setting where 0 means "not set" and a negative value "no limit". */
function positive(value: number | undefined): boolean {
  return value !== undefined && value > 0;
}

function throttles(field: keyof LinuxBlockIO): (r: LinuxResources) => boolean {
  return (r) =>
    ((r.blockIO?.[field] as LinuxThrottleDevice[] | undefined) ?? []).some((d) => positive(d.rate));
}

// In the order the v1 controllers apply, so the first refusal is the one a write would meet.
export const CONTROLLER_NEEDS: readonly ControllerNeed[] = [
  { field: 'cpu.cpus', v1: 'cpuset', v2: 'cpuset', asks: (r) => Boolean(r.cpu?.cpus) },
  { field: 'cpu.mems', v1: 'cpuset', v2: 'cpuset', asks: (r) => Boolean(r.cpu?.mems) },
  {
    // tsrunc writes the default device rules at every create, with or without config rules:
    // without the v1 hierarchy every device would be open to the container (runc refuses too).
    field: 'devices',
    v1: 'devices',
    v2: NOT_NEEDED_ON_V2,
    asks: (r, ctx) => !ctx.update || r.devices !== undefined,
  },
  { field: 'memory.limit', v1: 'memory', v2: 'memory', asks: (r) => positive(r.memory?.limit) },
  { field: 'memory.reservation', v1: 'memory', v2: 'memory', asks: (r) => positive(r.memory?.reservation) },
  { field: 'memory.swap', v1: 'memory', v2: 'memory', asks: (r) => positive(r.memory?.swap) },
  { field: 'memory.kernel', v1: 'memory', v2: NOT_NEEDED_ON_V2, asks: (r) => positive(r.memory?.kernel) },
  {
    field: 'memory.kernelTCP',
    v1: 'memory',
    v2: NOT_NEEDED_ON_V2,
    asks: (r) => positive(r.memory?.kernelTCP),
  },
  {
    // -1 is how runc's callers say "leave the kernel's value"; 0 is a real setting.
    field: 'memory.swappiness',
    v1: 'memory',
    v2: NOT_NEEDED_ON_V2,
    asks: (r) => r.memory?.swappiness !== undefined && r.memory.swappiness !== -1,
  },
  {
    field: 'memory.disableOOMKiller',
    v1: 'memory',
    v2: 'memory',
    asks: (r) => r.memory?.disableOOMKiller === true,
  },
  {
    field: 'memory.useHierarchy',
    v1: 'memory',
    v2: NOT_NEEDED_ON_V2,
    asks: (r) => r.memory?.useHierarchy !== undefined,
  },
  { field: 'cpu.shares', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.shares) },
  { field: 'cpu.quota', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.quota) },
  { field: 'cpu.period', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.period) },
  { field: 'cpu.burst', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.burst) },
  { field: 'cpu.idle', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.idle) },
  { field: 'cpu.realtimeRuntime', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.realtimeRuntime) },
  { field: 'cpu.realtimePeriod', v1: 'cpu', v2: 'cpu', asks: (r) => positive(r.cpu?.realtimePeriod) },
  { field: 'pids.limit', v1: 'pids', v2: 'pids', asks: (r) => positive(r.pids?.limit) },
  { field: 'blockIO.weight', v1: 'blkio', v2: 'io', asks: (r) => positive(r.blockIO?.weight) },
  {
    field: 'blockIO.leafWeight',
    v1: 'blkio',
    v2: NOT_NEEDED_ON_V2,
    asks: (r) => positive(r.blockIO?.leafWeight),
  },
  {
    field: 'blockIO.weightDevice',
    v1: 'blkio',
    v2: 'io',
    asks: (r) => (r.blockIO?.weightDevice ?? []).some((d) => positive(d.weight)),
  },
  {
    // v2 has no leaf weights (v2/io.ts).
    field: 'blockIO.weightDevice',
    v1: 'blkio',
    v2: NOT_NEEDED_ON_V2,
    asks: (r) => (r.blockIO?.weightDevice ?? []).some((d) => positive(d.leafWeight)),
  },
  {
    field: 'blockIO.throttleReadBpsDevice',
    v1: 'blkio',
    v2: 'io',
    asks: throttles('throttleReadBpsDevice'),
  },
  {
    field: 'blockIO.throttleWriteBpsDevice',
    v1: 'blkio',
    v2: 'io',
    asks: throttles('throttleWriteBpsDevice'),
  },
  {
    field: 'blockIO.throttleReadIOPSDevice',
    v1: 'blkio',
    v2: 'io',
    asks: throttles('throttleReadIOPSDevice'),
  },
  {
    field: 'blockIO.throttleWriteIOPSDevice',
    v1: 'blkio',
    v2: 'io',
    asks: throttles('throttleWriteIOPSDevice'),
  },
  {
    // A limit of 0 pages is a real limit (no huge pages at all).
    field: 'hugepageLimits',
    v1: 'hugetlb',
    v2: 'hugetlb',
    asks: (r) => (r.hugepageLimits ?? []).length > 0,
  },
  { field: 'network.classID', v1: 'net_cls', v2: NONE_ON_V2, asks: (r) => positive(r.network?.classID) },
  {
    field: 'network.priorities',
    v1: 'net_prio',
    v2: NONE_ON_V2,
    asks: (r) => (r.network?.priorities ?? []).length > 0,
  },
  {
    // A device with neither limit is skipped by the controllers.
    field: 'rdma',
    v1: 'rdma',
    v2: 'rdma',
    asks: (r) =>
      Object.values(r.rdma ?? {}).some((l) => l.hcaHandles !== undefined || l.hcaObjects !== undefined),
  },
];

/** The needs `resources` asks for, in CONTROLLER_NEEDS order. */
export function neededControllers(resources: LinuxResources, ctx: ApplyContext): ControllerNeed[] {
  return CONTROLLER_NEEDS.filter((need) => need.asks(resources, ctx));
}

/** linux.resources.unified asks for something (it needs a cgroup2 hierarchy). */
export function asksUnified(resources: LinuxResources): boolean {
  return Object.keys(resources.unified ?? {}).length > 0;
}

/** `linux.resources.network.classID: controller "net_cls" is not available on this host`. */
export function controllerMissing(field: string, controller: string): RuntimeError {
  return resourceError(field, `controller "${controller}" is not available on this host`);
}
