// tsrunc ps [--format table|json] <container-id> [ps options...]: the container's processes.
// json prints the pid array (what `docker top` reads); table runs ps(1) and keeps its rows.
import { execFileSync } from 'node:child_process';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { ps } from '../../runtime/resources';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, print, stringArg, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y)
    .option('format', { alias: 'f', type: 'string', default: 'table', choices: ['table', 'json'] })
    .parserConfiguration({ 'unknown-options-as-args': true });
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
    return execFileSync('ps', psArgs, { encoding: 'utf8' });
  } catch (error) {
    throw new RuntimeError(`ps: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** The header and the rows whose PID column is one of the container's pids. */
export function filterPsOutput(output: string, pids: number[]): string {
  const [header, ...rows] = output.split('\n').filter((line) => line !== '');
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new RuntimeError('ps: the output has no PID column');
  const wanted = new Set(pids);
  return [header, ...rows.filter((row) => wanted.has(Number(row.trim().split(/\s+/)[column])))].join('\n');
}
