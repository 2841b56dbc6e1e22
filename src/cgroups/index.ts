// Entry points the runtime uses: cgroups for a new container, and for an existing one from its
// state record.
import * as path from 'node:path';

import type { HostMount } from '../plan/host';
import { detectCgroups, readProcCgroups } from './layout';
import { type CgroupManager, type CgroupRecord, managerFor, planCgroups } from './manager';
import { cgroupTarget } from './paths';

export type { CgroupManager, CgroupRecord } from './manager';

export interface NewContainerCgroups {
  manager: CgroupManager;
  /** procKey -> the container's cgroup path from the hierarchy root (for the cgroup mount). */
  paths: Map<string, string>;
}

export function cgroupsForNewContainer(
  cgroupsPath: string | undefined,
  id: string,
  systemd: boolean,
  mounts: HostMount[],
): NewContainerCgroups {
  const host = detectCgroups(mounts);
  const record = planCgroups(host, cgroupTarget(cgroupsPath, id, systemd), readProcCgroups());
  const paths = new Map<string, string>();
  for (const h of host.hierarchies)
    paths.set(h.procKey, `/${path.relative(h.mountPoint, record.dirs[h.procKey])}`);
  return { manager: managerFor(record), paths };
}

export function cgroupsOf(record: { cgroups?: CgroupRecord }): CgroupManager | null {
  return record.cgroups ? managerFor(record.cgroups) : null;
}
