// tsrunc ps [--format table|json] <container-id> [ps options...]: the container's processes.
// json prints the pid array (what `docker top` reads); table runs ps(1) with the arguments
// after the id (default -ef) and keeps the header and the rows of the container's pids.
import { execFileSync } from 'node:child_process';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { ps } from '../../runtime/resources';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, dashesAfterId, print, stringArg, withContainerId } from './common';

const VALUE_FLAGS = new Set(['--format', '-f']);

/**
 * Everything after the container id is ps(1)'s, verbatim (runc's way: `ps <id> -e -x`, even
 * `ps <id> --format json`): a `--` after the id keeps yargs from reading any of it as a flag.
 */
export function prepareArgs(args: string[]): string[] {
  return dashesAfterId(args, VALUE_FLAGS, false);
}

export function builder(y: Argv): Argv {
  return withContainerId(y).option('format', {
    alias: 'f',
    type: 'string',
    default: 'table',
    choices: ['table', 'json'],
  });
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  const pids = await ps(await runtimeContext(args), id);
  if (stringArg(args, 'format') === 'json') return print(JSON.stringify(pids));
  const psArgs = ((args._ as unknown[]) ?? []).slice(1).map(String);
  print(filterPsOutput(runPs(psArgs.length ? psArgs : ['-ef']), pids));
}

function runPs(psArgs: string[]): string {
  try {
    return execFileSync('ps', psArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { status, stderr } = error as { status?: number | null; stderr?: string };
    const first = (stderr ?? '').split('\n').find((line) => line.trim() !== '');
    const detail = first ?? (error as Error).message.split('\n')[0];
    throw new RuntimeError(`ps: ${status == null ? '' : `exit status ${status}: `}${detail.trim()}`);
  }
}

/** The header and the rows whose PID column is one of the container's pids. */
export function filterPsOutput(output: string, pids: number[]): string {
  const [header = '', ...rows] = output.split('\n').filter((line) => line !== '');
  const column = header.trim().split(/\s+/).indexOf('PID');
  // runc's wording: the header must name a PID column (`-o comm` or `-o pid=` has none).
  if (column < 0) throw new RuntimeError("couldn't find PID field in ps output");
  const wanted = new Set(pids);
  return [header, ...rows.filter((row) => wanted.has(Number(row.trim().split(/\s+/)[column])))].join('\n');
}
