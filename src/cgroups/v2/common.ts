// Helpers shared by the cgroup v2 controllers.
import { RuntimeError } from '../../errors';
import { readCgroupFileOrNull } from '../fs';

/**
 * What a v2 "max" (no limit) becomes in the stats document. runc prints 2^64-1 there, which a
 * JavaScript number cannot hold exactly (and which Go then fails to parse back as a uint64 once
 * it has been rounded): the largest exact integer says "unlimited" and survives every parser.
 */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** "max" -> UNLIMITED, digits -> the number, anything else (or a missing file) -> undefined. */
export function parseLimit(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined) return undefined;
  const value = text.trim();
  if (value === 'max') return UNLIMITED;
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** A single-number (or "max") file, undefined when missing. */
export function readLimit(dir: string, file: string): number | undefined {
  return parseLimit(readCgroupFileOrNull(dir, file));
}

/** The error for a config field cgroup v2 has no file for. */
export function unsupportedOnV2(field: string, why: string): RuntimeError {
  return new RuntimeError(`linux.resources.${field}: not supported on cgroup v2 (${why})`);
}

/** A resource field error: `linux.resources.memory.swap: <problem>`. */
export function resourceError(field: string, problem: string): RuntimeError {
  return new RuntimeError(`linux.resources.${field}: ${problem}`);
}

/** Waits between polls of a cgroup file: timers, never a blocked event loop. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
