// cgroup v1 hugetlb controller (runc libcontainer/cgroups/fs/hugetlb.go):
// hugetlb.<size>.limit_in_bytes per hugepageLimits entry, and hugetlb.<size>.rsvd.limit_in_bytes
// to the same value when the kernel has reservation accounting (5.7+), as newer runc does.
// Stats per page size from the .rsvd files when present, else the plain ones.
import * as fs from 'node:fs';

import type { LinuxResources } from '../../spec/types';
import { cgroupFileExists, writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { readUint, resourceError } from './common';

/** The page sizes ("2MB", "1GB") this cgroup has files for. */
export function hugePageSizesV1(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => /^hugetlb\.([^.]+)\.limit_in_bytes$/.exec(name)?.[1] ?? []).sort();
}

export const hugetlbController: Controller = {
  name: 'hugetlb',

  apply(dir: string, resources: LinuxResources): void {
    for (const [index, entry] of (resources.hugepageLimits ?? []).entries()) {
      const file = `hugetlb.${entry.pageSize}.limit_in_bytes`;
      // Checked here so that a typo ("2M") is named as a config error, not as a missing file.
      if (!/^[0-9]+[KMG]B$/.test(entry.pageSize) || !cgroupFileExists(dir, file)) {
        throw resourceError(
          `hugepageLimits[${index}].pageSize`,
          `page size "${entry.pageSize}" is not supported here (no ${file})`,
        );
      }
      writeCgroupFile(dir, file, entry.limit);
      const rsvd = `hugetlb.${entry.pageSize}.rsvd.limit_in_bytes`;
      if (cgroupFileExists(dir, rsvd)) writeCgroupFile(dir, rsvd, entry.limit);
    }
  },

  stats(dir: string, stats: Stats): void {
    const hugetlb: NonNullable<Stats['hugetlb']> = {};
    for (const size of hugePageSizesV1(dir)) {
      const prefix = cgroupFileExists(dir, `hugetlb.${size}.rsvd.usage_in_bytes`)
        ? `hugetlb.${size}.rsvd`
        : `hugetlb.${size}`;
      hugetlb[size] = {
        usage: readUint(dir, `${prefix}.usage_in_bytes`) ?? 0,
        max: readUint(dir, `${prefix}.max_usage_in_bytes`) ?? 0,
        failcnt: readUint(dir, `${prefix}.failcnt`) ?? 0,
      };
    }
    if (Object.keys(hugetlb).length > 0) stats.hugetlb = { ...stats.hugetlb, ...hugetlb };
  },
};
