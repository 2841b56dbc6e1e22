// Helpers shared by the cgroup v1 controllers.
import { readCgroupFileOrNull } from '../fs';
import { UNLIMITED } from '../v2/common';

export { UNLIMITED, resourceError, sleep } from '../v2/common';

/**
 * A number from a v1 file as the stats document shows it. v1 says "no limit" with the largest
 * page-aligned int64 (9223372036854771712 on 4K pages), which a JavaScript number cannot hold
 * exactly: anything above the largest exact integer becomes UNLIMITED, as v2's "max" does, so
 * one value means "unlimited" whatever the layout.
 */
export function clampUint(value: number): number {
  return value > Number.MAX_SAFE_INTEGER ? UNLIMITED : value;
}

/** A single unsigned number file; undefined when missing or not a number. */
export function readUint(dir: string, file: string): number | undefined {
  const text = readCgroupFileOrNull(dir, file);
  if (text === null || !/^\d+$/.test(text)) return undefined;
  return clampUint(Number(text));
}

/** Whitespace-separated unsigned numbers (cpuacct.usage_percpu); [] when missing. */
export function readUintList(dir: string, file: string): number[] {
  const text = readCgroupFileOrNull(dir, file);
  if (text === null) return [];
  return text
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map((word) => clampUint(Number(word)));
}
