// Which linux.resources field a cgroup file carries, so that a value the kernel refuses is
// reported against the config field the user wrote (v1 and v2 file names).
const FIELD_OF_FILE: Record<string, string> = {
  'memory.limit_in_bytes': 'memory.limit',
  'memory.max': 'memory.limit',
  'memory.soft_limit_in_bytes': 'memory.reservation',
  'memory.low': 'memory.reservation',
  'memory.memsw.limit_in_bytes': 'memory.swap',
  'memory.swap.max': 'memory.swap',
  'memory.kmem.limit_in_bytes': 'memory.kernel',
  'memory.kmem.tcp.limit_in_bytes': 'memory.kernelTCP',
  'memory.swappiness': 'memory.swappiness',
  'memory.oom_control': 'memory.disableOOMKiller',
  'memory.use_hierarchy': 'memory.useHierarchy',
  'cpu.shares': 'cpu.shares',
  'cpu.weight': 'cpu.shares',
  'cpu.cfs_quota_us': 'cpu.quota',
  'cpu.cfs_period_us': 'cpu.period',
  'cpu.max': 'cpu.quota',
  'cpu.cfs_burst_us': 'cpu.burst',
  'cpu.max.burst': 'cpu.burst',
  'cpu.rt_runtime_us': 'cpu.realtimeRuntime',
  'cpu.rt_period_us': 'cpu.realtimePeriod',
  'cpu.idle': 'cpu.idle',
  'cpuset.cpus': 'cpu.cpus',
  'cpuset.mems': 'cpu.mems',
  'pids.max': 'pids.limit',
  'blkio.weight': 'blockIO.weight',
  'blkio.bfq.weight': 'blockIO.weight',
  'io.weight': 'blockIO.weight',
  'io.bfq.weight': 'blockIO.weight',
  'blkio.leaf_weight': 'blockIO.leafWeight',
  'blkio.weight_device': 'blockIO.weightDevice',
  'blkio.bfq.weight_device': 'blockIO.weightDevice',
  'blkio.leaf_weight_device': 'blockIO.weightDevice',
  'blkio.throttle.read_bps_device': 'blockIO.throttleReadBpsDevice',
  'blkio.throttle.write_bps_device': 'blockIO.throttleWriteBpsDevice',
  'blkio.throttle.read_iops_device': 'blockIO.throttleReadIOPSDevice',
  'blkio.throttle.write_iops_device': 'blockIO.throttleWriteIOPSDevice',
  'io.max': 'blockIO',
  'net_cls.classid': 'network.classID',
  'net_prio.ifpriomap': 'network.priorities',
  'rdma.max': 'rdma',
  'devices.allow': 'devices',
  'devices.deny': 'devices',
};

/** `linux.resources.<field>` for a cgroup file name, or null (cgroup.procs, unified keys...). */
export function resourceFieldOf(file: string): string | null {
  const field = FIELD_OF_FILE[file] ?? (/^hugetlb\.[^.]+\./.test(file) ? 'hugepageLimits' : undefined);
  return field === undefined ? null : `linux.resources.${field}`;
}
