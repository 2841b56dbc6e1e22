// tsrunc update [--resources FILE|-] [--memory ...] <container-id>: change the limits of a
// live container. --resources takes a LinuxResources JSON (what docker update sends on stdin);
// runc's single-value flags override fields of it.
import * as fs from 'node:fs';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { update } from '../../runtime/resources';
import type { LinuxResources } from '../../spec/types';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, stringArg, withContainerId } from './common';

// flag -> [controller, field, kind]; bytes accept runc's size suffixes (64m, 1g).
const FLAGS: Record<string, [keyof LinuxResources, string, 'bytes' | 'int' | 'string']> = {
  memory: ['memory', 'limit', 'bytes'],
  'memory-reservation': ['memory', 'reservation', 'bytes'],
  'memory-swap': ['memory', 'swap', 'bytes'],
  'kernel-memory': ['memory', 'kernel', 'bytes'],
  'kernel-memory-tcp': ['memory', 'kernelTCP', 'bytes'],
  'cpu-shares': ['cpu', 'shares', 'int'],
  'cpu-quota': ['cpu', 'quota', 'int'],
  'cpu-period': ['cpu', 'period', 'int'],
  'cpu-rt-runtime': ['cpu', 'realtimeRuntime', 'int'],
  'cpu-rt-period': ['cpu', 'realtimePeriod', 'int'],
  'cpuset-cpus': ['cpu', 'cpus', 'string'],
  'cpuset-mems': ['cpu', 'mems', 'string'],
  'pids-limit': ['pids', 'limit', 'int'],
  'blkio-weight': ['blockIO', 'weight', 'int'],
};

export function builder(y: Argv): Argv {
  let out = withContainerId(y).option('resources', {
    alias: 'r',
    type: 'string',
    describe: 'a LinuxResources JSON file, or - for stdin',
  });
  for (const flag of Object.keys(FLAGS)) out = out.option(flag, { type: 'string' });
  return out;
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  await update(await runtimeContext(args), id, resourcesFromArgs(args));
}

export function resourcesFromArgs(args: CommandArgs): LinuxResources {
  const file = stringArg(args, 'resources');
  const resources: Record<string, Record<string, unknown>> = file ? readResources(file) : {};
  for (const [flag, [controller, field, kind]] of Object.entries(FLAGS)) {
    const raw = stringArg(args, flag);
    if (raw === undefined) continue;
    (resources[controller] ??= {})[field] =
      kind === 'string' ? raw : parseNumber(flag, raw, kind === 'bytes');
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

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

export function parseNumber(flag: string, raw: string, bytes: boolean): number {
  const match = bytes ? /^(-?\d+)\s*([kmgt]?)i?b?$/i.exec(raw.trim()) : /^(-?\d+)()$/.exec(raw.trim());
  if (!match) throw new RuntimeError(`--${flag}: invalid value "${raw}"`);
  const value = Number(match[1]) * SIZE_UNITS[match[2].toLowerCase()];
  if (!Number.isSafeInteger(value) || value < -1) throw new RuntimeError(`--${flag}: invalid value "${raw}"`);
  return value;
}
