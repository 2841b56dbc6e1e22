// Which cgroup hierarchies this host has, read from mountinfo: pure v1, pure v2 (cgroup2 on
// /sys/fs/cgroup), or hybrid (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified).
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { HostMount } from '../plan/host';

export type Layout = 'v1' | 'v2' | 'hybrid';

export interface Hierarchy {
  version: 1 | 2;
  /** Where it is mounted: /sys/fs/cgroup/memory, /sys/fs/cgroup/unified, /sys/fs/cgroup. */
  mountPoint: string;
  /** The cgroup path of the mount's root (mountinfo field 4; "/" unless inside a cgroupns). */
  root: string;
  /** v1: the controllers of the hierarchy (cpu, cpuacct, name=systemd...); v2: those in
   *  cgroup.controllers of its root. */
  controllers: string[];
  /** The key of this hierarchy in /proc/<pid>/cgroup: "cpu,cpuacct", "name=systemd", "" (v2). */
  procKey: string;
}

export interface HostCgroups {
  layout: Layout;
  hierarchies: Hierarchy[];
}

const V1_OPTIONS_NOT_CONTROLLERS = new Set([
  'rw',
  'ro',
  'noprefix',
  'clone_children',
  'xattr',
  'cpuset_v2_mode',
]);

export function detectCgroups(mounts: HostMount[], readControllers = readV2Controllers): HostCgroups {
  const hierarchies: Hierarchy[] = [];
  for (const mount of mounts) {
    if (mount.fstype === 'cgroup') {
      const controllers = mount.superOptions
        .split(',')
        .filter((o) => !V1_OPTIONS_NOT_CONTROLLERS.has(o) && !o.startsWith('release_agent='));
      hierarchies.push({
        version: 1,
        mountPoint: mount.mountPoint,
        root: mount.root,
        controllers,
        procKey: controllers.join(','),
      });
    } else if (mount.fstype === 'cgroup2') {
      hierarchies.push({
        version: 2,
        mountPoint: mount.mountPoint,
        root: mount.root,
        controllers: readControllers(mount.mountPoint),
        procKey: '',
      });
    }
  }
  // The same hierarchy can be mounted twice (bind mounts): keep the first of each.
  const unique = hierarchies.filter(
    (h, i) => hierarchies.findIndex((o) => o.procKey === h.procKey && o.version === h.version) === i,
  );
  const hasV1 = unique.some((h) => h.version === 1);
  const hasV2 = unique.some((h) => h.version === 2);
  if (!hasV1 && !hasV2) throw new Error('no cgroup hierarchy is mounted');
  return { layout: hasV1 ? (hasV2 ? 'hybrid' : 'v1') : 'v2', hierarchies: unique };
}

function readV2Controllers(mountPoint: string): string[] {
  try {
    return fs
      .readFileSync(path.join(mountPoint, 'cgroup.controllers'), 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** /proc/<pid>/cgroup as procKey -> cgroup path. */
export function readProcCgroups(pid: number | 'self' = 'self'): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match) result.set(match[1], match[2]);
  }
  return result;
}
