// cgroup v2 io controller (runc fs2/io.go):
//   - blockIO.weight: io.bfq.weight as is when the BFQ scheduler offers it (same 1..1000 scale as
//     v1), else io.weight converted from v1's 10..1000 to v2's 1..10000;
//   - weightDevice: "maj:min weight" lines into io.bfq.weight (as is) or io.weight (converted);
//   - throttle{Read,Write}{Bps,IOPS}Device: io.max "maj:min rbps=N" (wbps, riops, wiops); a
//     rate of 0 (v1: remove the limit) becomes "max";
//   - leafWeight (and weightDevice[].leafWeight): ignored, v2 has no leaf weights (runc too).
// Stats: io.stat "maj:min rbytes= wbytes= rios= wios= dbytes= dios=" into runc's blkio lists.
import type { LinuxResources, LinuxThrottleDevice } from '../../spec/types';
import { cgroupFileExists, readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { BlkioEntry, Controller, Stats } from '../types';

/** io.weight (1..10000) from a v1 blkio weight (10..1000): 10 -> 1, 500 -> 4950, 1000 -> 10000. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

const THROTTLES: [keyof NonNullable<LinuxResources['blockIO']>, string][] = [
  ['throttleReadBpsDevice', 'rbps'],
  ['throttleWriteBpsDevice', 'wbps'],
  ['throttleReadIOPSDevice', 'riops'],
  ['throttleWriteIOPSDevice', 'wiops'],
];

// io.stat keys runc reports (discards have no v1 counterpart and are left out, as runc does).
const IO_STAT_KEYS: Record<string, { bytes: boolean; op: string }> = {
  rbytes: { bytes: true, op: 'Read' },
  wbytes: { bytes: true, op: 'Write' },
  rios: { bytes: false, op: 'Read' },
  wios: { bytes: false, op: 'Write' },
};

export const ioV2: Controller = {
  name: 'io',

  apply(dir: string, resources: LinuxResources): void {
    const blockIO = resources.blockIO;
    if (!blockIO) return;
    const bfq = cgroupFileExists(dir, 'io.bfq.weight');

    if (blockIO.weight) {
      if (bfq) writeCgroupFile(dir, 'io.bfq.weight', blockIO.weight);
      else writeCgroupFile(dir, 'io.weight', blkioWeightToIoWeight(blockIO.weight));
    }
    for (const device of blockIO.weightDevice ?? []) {
      if (!device.weight) continue;
      const weight = bfq ? device.weight : blkioWeightToIoWeight(device.weight);
      writeCgroupFile(dir, bfq ? 'io.bfq.weight' : 'io.weight', `${device.major}:${device.minor} ${weight}`);
    }
    for (const [field, key] of THROTTLES) {
      for (const device of (blockIO[field] as LinuxThrottleDevice[] | undefined) ?? []) {
        const rate = device.rate ? String(device.rate) : 'max';
        writeCgroupFile(dir, 'io.max', `${device.major}:${device.minor} ${key}=${rate}`);
      }
    }
  },

  stats(dir: string, stats: Stats): void {
    const text = readCgroupFileOrNull(dir, 'io.stat');
    if (text === null) return;
    const bytes: BlkioEntry[] = [];
    const ios: BlkioEntry[] = [];
    for (const line of text.split('\n')) {
      const [device, ...items] = line.trim().split(/\s+/);
      const match = /^(\d+):(\d+)$/.exec(device ?? '');
      if (!match) continue;
      const major = Number(match[1]);
      const minor = Number(match[2]);
      for (const item of items) {
        const [key, value] = item.split('=');
        if (value === undefined || !/^\d+$/.test(value)) continue;
        const kind = IO_STAT_KEYS[key];
        if (kind === undefined) continue;
        const list = kind.bytes ? bytes : ios;
        const op = kind.op;
        list.push({ major, minor, op, value: Number(value) });
      }
    }
    stats.blkio = { ...stats.blkio, ioServiceBytesRecursive: bytes, ioServicedRecursive: ios };
  },
};
