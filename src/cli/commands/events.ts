// tsrunc events [--stats] [--interval 5s] <container-id>: one stats document, or a stream of
// stats every interval plus `oom` events, one JSON object per line (runc's format).
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { stats, watchEvents } from '../../runtime/resources';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, print, stringArg, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y)
    .option('stats', { type: 'boolean', default: false, describe: 'print the stats once and exit' })
    .option('interval', { type: 'string', default: '5s', describe: 'time between stats (5s, 500ms)' });
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  const g = await runtimeContext(args);
  if (args.stats === true) return print(JSON.stringify(await stats(g, id)));
  await watchEvents(g, id, parseDuration(stringArg(args, 'interval') ?? '5s'), (event) =>
    print(JSON.stringify(event)),
  );
}

/** Go-style durations as runc takes them: 5s, 500ms, 1m, 1.5s. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match || Number(match[1]) <= 0) throw new RuntimeError(`--interval: invalid duration "${text}"`);
  return Number(match[1]) * units[match[2]];
}
