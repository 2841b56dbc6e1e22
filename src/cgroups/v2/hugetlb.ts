// cgroup v2 hugetlb controller: hugetlb.<size>.max, and hugetlb.<size>.rsvd.max when the kernel
// has reservation accounting (5.7+), both to the same limit (runc fs2/hugetlb.go). Stats per
// page size: usage from .rsvd.current (else .current), failcnt from the "max" count of .events.
import * as fs from 'node:fs';

import type { LinuxResources } from '../../spec/types';
import { cgroupFileExists, readKeyValues, writeCgroupFile } from '../fs';
import type { Controller, Stats } from '../types';
import { readLimit, resourceError } from './common';

/** The page sizes ("2MB", "1GB") this cgroup has files for. */
export function hugePageSizes(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => /^hugetlb\.([^.]+)\.max$/.exec(name)?.[1] ?? []).sort();
}

export const hugetlbV2: Controller = {
  name: 'hugetlb',

  apply(dir: string, resources: LinuxResources): void {
    for (const [index, entry] of (resources.hugepageLimits ?? []).entries()) {
      const file = `hugetlb.${entry.pageSize}.max`;
      if (!/^[0-9]+[KMG]B$/.test(entry.pageSize) || !cgroupFileExists(dir, file)) {
        throw resourceError(
          `hugepageLimits[${index}].pageSize`,
          `page size "${entry.pageSize}" is not supported here (no ${file})`,
        );
      }
      writeCgroupFile(dir, file, entry.limit);
      const rsvd = `hugetlb.${entry.pageSize}.rsvd.max`;
      if (cgroupFileExists(dir, rsvd)) writeCgroupFile(dir, rsvd, entry.limit);
    }
  },

  stats(dir: string, stats: Stats): void {
    const hugetlb: NonNullable<Stats['hugetlb']> = {};
    for (const size of hugePageSizes(dir)) {
      const prefix = cgroupFileExists(dir, `hugetlb.${size}.rsvd.current`)
        ? `hugetlb.${size}.rsvd`
        : `hugetlb.${size}`;
      hugetlb[size] = {
        usage: readLimit(dir, `${prefix}.current`) ?? 0,
        failcnt: readKeyValues(dir, `${prefix}.events`).max ?? 0,
      };
    }
    if (Object.keys(hugetlb).length > 0) stats.hugetlb = { ...stats.hugetlb, ...hugetlb };
  },
};
