// Cgroup managers and controllers: the interfaces every layout (v1, v2, hybrid) implements.
// A controller file owns the resource fields of one controller and writes them into the
// container's cgroup directory of that controller; tests run them against temp dir trees.
import type { LinuxResources } from '../spec/types';

export interface ApplyContext {
  /** True for `tsrunc update` (runc: memory.checkBeforeUpdate applies only then). */
  update: boolean;
  /** Where a controller reports what it left alone (a file this kernel lacks). */
  warn?: (message: string) => void;
}

/** One controller of one layout. `dir` is the container's cgroup directory for it. */
export interface Controller {
  /** v1: the hierarchy's directory name under /sys/fs/cgroup ("memory", "cpu", "net_cls"...);
   *  v2: the controller name as in cgroup.controllers ("memory", "cpu", "io"...). */
  readonly name: string;
  /** Write the fields of `resources` this controller owns; absent fields are left alone. */
  apply(dir: string, resources: LinuxResources, ctx: ApplyContext): void;
  /** Add this controller's numbers to `stats` (runc's `events --stats` shape). */
  stats?(dir: string, stats: Stats): void;
}

// The stats document of `tsrunc events --stats` (runc's types: libcontainer/cgroups/stats.go
// as seen in its JSON output). Fields a layout cannot provide are left out.
export interface Stats {
  cpu?: {
    usage?: { total?: number; percpu?: number[]; kernel?: number; user?: number };
    throttling?: { periods?: number; throttled_periods?: number; throttled_time?: number };
  };
  memory?: {
    cache?: number;
    usage?: MemoryEntry;
    swap?: MemoryEntry;
    kernel?: MemoryEntry;
    kernelTCP?: MemoryEntry;
    raw?: Record<string, number>;
  };
  pids?: { current?: number; limit?: number };
  blkio?: Record<string, BlkioEntry[]>;
  hugetlb?: Record<string, { usage?: number; max?: number; failcnt: number }>;
}

export interface MemoryEntry {
  limit?: number;
  usage?: number;
  max?: number;
  failcnt?: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}
