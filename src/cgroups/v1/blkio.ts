// cgroup v1 blkio controller (runc libcontainer/cgroups/fs/blkio.go).
//
// Files: blkio.weight / blkio.leaf_weight / blkio.weight_device / blkio.leaf_weight_device
// (CFQ; kernels without CFQ, 5.0+, have BFQ's blkio.bfq.weight and blkio.bfq.weight_device
// instead, used when blkio.weight is absent, as runc does), and the four
// blkio.throttle.{read,write}_{bps,iops}_device files, one "major:minor value" write per device.
// 0 means "not set" for the weights (as in runc); a throttle rate of 0 removes that limit.
//
// Stats: runc reads the first group of files that has data, in this order: BFQ debug, BFQ,
// CFQ, throttle recursive, throttle. Keys are runc's `events` JSON names
// (ioServiceBytesRecursive...), the same as our v2 io controller's.
import type { LinuxBlockIO, LinuxResources, LinuxThrottleDevice } from '../../spec/types';
import { cgroupFileExists, readCgroupFileOrNull, writeCgroupFile } from '../fs';
import type { BlkioEntry, Controller, Stats } from '../types';
import { clampUint } from './common';

interface WeightFiles {
  weight: string;
  weightDevice: string;
}

function weightFiles(dir: string): WeightFiles {
  return cgroupFileExists(dir, 'blkio.weight')
    ? { weight: 'blkio.weight', weightDevice: 'blkio.weight_device' }
    : { weight: 'blkio.bfq.weight', weightDevice: 'blkio.bfq.weight_device' };
}

function setWeights(dir: string, blockIO: LinuxBlockIO): void {
  const files = weightFiles(dir);
  if (blockIO.weight) writeCgroupFile(dir, files.weight, blockIO.weight);
  if (blockIO.leafWeight) writeCgroupFile(dir, 'blkio.leaf_weight', blockIO.leafWeight);
  for (const device of blockIO.weightDevice ?? []) {
    const id = `${device.major}:${device.minor}`;
    if (device.weight) writeCgroupFile(dir, files.weightDevice, `${id} ${device.weight}`);
    if (device.leafWeight) writeCgroupFile(dir, 'blkio.leaf_weight_device', `${id} ${device.leafWeight}`);
  }
}

const THROTTLE_FILES: [keyof LinuxBlockIO, string][] = [
  ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
  ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
  ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
  ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
];

function setThrottles(dir: string, blockIO: LinuxBlockIO): void {
  for (const [field, file] of THROTTLE_FILES) {
    for (const device of (blockIO[field] as LinuxThrottleDevice[] | undefined) ?? []) {
      writeCgroupFile(dir, file, `${device.major}:${device.minor} ${device.rate ?? 0}`);
    }
  }
}

/**
 * One blkio stat file: "8:0 Read 4096" lines (some files have no op: "8:0 4096"); the "Total N"
 * line is skipped, as are lines that do not parse. [] when the file is missing or empty.
 */
export function parseBlkioStat(text: string | null): BlkioEntry[] {
  const entries: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const fields = line.trim().split(/[\s:]+/);
    if (fields.length !== 3 && fields.length !== 4) continue;
    const [major, minor] = fields;
    const op = fields.length === 4 ? fields[2] : '';
    const value = fields[fields.length - 1];
    if (![major, minor, value].every((f) => /^\d+$/.test(f))) continue;
    entries.push({ major: Number(major), minor: Number(minor), op, value: clampUint(Number(value)) });
  }
  return entries;
}

// [file, stats key] groups in runc's order of preference.
const STAT_GROUPS: [string, string][][] = [
  [
    ['blkio.bfq.sectors_recursive', 'sectorsRecursive'],
    ['blkio.bfq.io_service_time_recursive', 'ioServiceTimeRecursive'],
    ['blkio.bfq.io_wait_time_recursive', 'ioWaitTimeRecursive'],
    ['blkio.bfq.io_merged_recursive', 'ioMergedRecursive'],
    ['blkio.bfq.io_queued_recursive', 'ioQueueRecursive'],
    ['blkio.bfq.time_recursive', 'ioTimeRecursive'],
    ['blkio.bfq.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
    ['blkio.bfq.io_serviced_recursive', 'ioServicedRecursive'],
  ],
  [
    ['blkio.bfq.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
    ['blkio.bfq.io_serviced_recursive', 'ioServicedRecursive'],
  ],
  [
    ['blkio.sectors_recursive', 'sectorsRecursive'],
    ['blkio.io_service_time_recursive', 'ioServiceTimeRecursive'],
    ['blkio.io_wait_time_recursive', 'ioWaitTimeRecursive'],
    ['blkio.io_merged_recursive', 'ioMergedRecursive'],
    ['blkio.io_queued_recursive', 'ioQueueRecursive'],
    ['blkio.time_recursive', 'ioTimeRecursive'],
    ['blkio.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
    ['blkio.io_serviced_recursive', 'ioServicedRecursive'],
  ],
  [
    ['blkio.throttle.io_service_bytes_recursive', 'ioServiceBytesRecursive'],
    ['blkio.throttle.io_serviced_recursive', 'ioServicedRecursive'],
  ],
  [
    ['blkio.throttle.io_service_bytes', 'ioServiceBytesRecursive'],
    ['blkio.throttle.io_serviced', 'ioServicedRecursive'],
  ],
];

/** The first group whose first file has entries (runc's rule), or undefined. */
function readStatGroup(dir: string): Record<string, BlkioEntry[]> | undefined {
  for (const group of STAT_GROUPS) {
    const [[firstFile]] = group;
    if (parseBlkioStat(readCgroupFileOrNull(dir, firstFile)).length === 0) continue;
    const out: Record<string, BlkioEntry[]> = {};
    for (const [file, key] of group) out[key] = parseBlkioStat(readCgroupFileOrNull(dir, file));
    return out;
  }
  return undefined;
}

export const blkioController: Controller = {
  name: 'blkio',

  apply(dir: string, resources: LinuxResources): void {
    const blockIO = resources.blockIO;
    if (!blockIO) return;
    setWeights(dir, blockIO);
    setThrottles(dir, blockIO);
  },

  stats(dir: string, stats: Stats): void {
    // Nothing recorded yet (every file is just "Total 0"): the keys are there, empty, as v2's.
    const group = readStatGroup(dir) ?? { ioServiceBytesRecursive: [], ioServicedRecursive: [] };
    stats.blkio = { ...stats.blkio, ...group };
  },
};
