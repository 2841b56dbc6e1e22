// tsrunc update [--resources FILE|-] [--memory ...] <container-id>: change the limits of a
// live container. --resources takes a LinuxResources JSON (what docker update sends on stdin);
// without it, runc's single-value flags, with runc's names and parsing. As in runc, a flag's 0
// (or empty string) leaves the value as it is, and with --resources the flags are ignored.
import * as fs from 'node:fs';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { update } from '../../runtime/resources';
import type { LinuxResources } from '../../spec/types';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, stringArg, withContainerId } from './common';

/** How runc reads each kind: sizes (`-1` or 64m, 1.5g), unsigned and signed integers, text. */
type Kind = 'bytes' | 'uint' | 'int' | 'string';

// flag -> [controller, field, kind], runc's flags in runc's order.
const FLAGS: Record<string, [keyof LinuxResources, string, Kind]> = {
  'blkio-weight': ['blockIO', 'weight', 'uint'],
  'cpu-period': ['cpu', 'period', 'uint'],
  'cpu-quota': ['cpu', 'quota', 'int'],
  'cpu-share': ['cpu', 'shares', 'uint'],
  'cpu-rt-period': ['cpu', 'realtimePeriod', 'uint'],
  'cpu-rt-runtime': ['cpu', 'realtimeRuntime', 'int'],
  'cpuset-cpus': ['cpu', 'cpus', 'string'],
  'cpuset-mems': ['cpu', 'mems', 'string'],
  memory: ['memory', 'limit', 'bytes'],
  'memory-reservation': ['memory', 'reservation', 'bytes'],
  'memory-swap': ['memory', 'swap', 'bytes'],
  // Hidden in runc 1.1's help, still taken (and, as kernel memory limits go, mostly ignored).
  'kernel-memory': ['memory', 'kernel', 'bytes'],
  'kernel-memory-tcp': ['memory', 'kernelTCP', 'bytes'],
  'pids-limit': ['pids', 'limit', 'int'],
};

// Intel RDT: runc's words when the host has none, as tsrunc never has.
const RDT_FLAGS: Record<string, string> = {
  'l3-cache-schema': 'Intel RDT/CAT: l3 cache schema is not enabled',
  'mem-bw-schema': 'Intel RDT/MBA: memory bandwidth schema is not enabled',
};

export function builder(y: Argv): Argv {
  let out = withContainerId(y).option('resources', {
    alias: 'r',
    type: 'string',
    describe: 'a LinuxResources JSON file, or - for stdin (the other flags are then ignored)',
  });
  for (const flag of [...Object.keys(FLAGS), ...Object.keys(RDT_FLAGS)]) {
    // --cpu-shares: tsrunc's name before it took runc's.
    out = out.option(flag, { type: 'string', ...(flag === 'cpu-share' ? { alias: 'cpu-shares' } : {}) });
  }
  return out;
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  const ctx = await runtimeContext(args);
  await update(
    ctx,
    id,
    resourcesFromArgs(args, (m) => ctx.logger.warn(m)),
  );
}

export function resourcesFromArgs(
  args: CommandArgs,
  warn: (message: string) => void = () => {},
): LinuxResources {
  const file = stringArg(args, 'resources');
  const given = [...Object.keys(FLAGS), ...Object.keys(RDT_FLAGS)].filter(
    (flag) => stringArg(args, flag) !== undefined,
  );
  if (file) {
    if (given.length > 0) warn(`--${given.join(', --')} ignored: --resources is given (as runc does)`);
    return readResources(file) as LinuxResources;
  }
  for (const flag of given) if (flag in RDT_FLAGS) throw new RuntimeError(RDT_FLAGS[flag]);
  const resources: Record<string, Record<string, unknown>> = {};
  for (const flag of given) {
    const [controller, field, kind] = FLAGS[flag];
    const value = parseFlag(flag, stringArg(args, flag)!, kind);
    // runc's 0 and "": leave the value as it is.
    if (value === 0 || value === '') continue;
    (resources[controller] ??= {})[field] = value;
  }
  return resources as LinuxResources;
}

function readResources(file: string): Record<string, Record<string, unknown>> {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new RuntimeError(
      `--resources: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Record<string, Record<string, unknown>>;
  } catch (error) {
    throw new RuntimeError(`--resources: invalid JSON: ${(error as Error).message}`);
  }
}

function parseFlag(flag: string, raw: string, kind: Kind): number | string {
  switch (kind) {
    case 'string':
      return raw;
    case 'bytes':
      return parseSize(flag, raw);
    case 'uint':
    case 'int': {
      const value = /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!Number.isSafeInteger(value) || (kind === 'uint' && value < 0)) throw invalid(flag, raw);
      // A negative pids limit is "no limit" (runc writes "max"); elsewhere -1 is the only one.
      if (flag === 'pids-limit') return Math.max(value, -1);
      if (value < -1) throw invalid(flag, raw);
      return value;
    }
  }
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** runc's sizes (go-units RAMInBytes): -1, or a number with an optional fraction and a binary
 *  unit, `64m`, `1.5g`, `512 KiB`; the bytes are truncated to an integer. */
export function parseSize(flag: string, raw: string): number {
  if (raw.trim() === '-1') return -1;
  const match = /^(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?$/i.exec(raw.trim());
  if (!match) throw invalid(flag, raw);
  const value = Math.trunc(Number(match[1]) * SIZE_UNITS[match[2].toLowerCase()]);
  if (!Number.isSafeInteger(value)) throw invalid(flag, raw);
  return value;
}

function invalid(flag: string, raw: string): RuntimeError {
  return new RuntimeError(`--${flag}: invalid value "${raw}"`);
}
