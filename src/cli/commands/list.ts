// tsrunc list [--format table|json] [--quiet]
import type { Argv } from 'yargs';

import { list } from '../../runtime/lifecycle';
import type { OciState } from '../../state/store';
import { runtimeContext } from '../context';
import { type CommandArgs, print, writeStdout } from './common';

// runc prints through Go's tabwriter with minwidth 12 and padding 3; we lay it out the same.
const MIN_COLUMN_WIDTH = 12;
const COLUMN_PADDING = 3;
const HEADER = ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'];

export function builder(y: Argv): Argv {
  return y
    .option('format', {
      alias: 'f',
      type: 'string',
      choices: ['table', 'json'],
      default: 'table',
      describe: 'output format',
    })
    .option('quiet', {
      alias: 'q',
      type: 'boolean',
      default: false,
      describe: 'print only the container ids',
    });
}

export async function handler(args: CommandArgs): Promise<void> {
  const states = await list(await runtimeContext(args));
  if (args.quiet === true) {
    for (const s of states) print(s.id);
  } else if (args.format === 'json') {
    print(JSON.stringify(states));
  } else {
    writeStdout(formatTable(states));
  }
}

export function formatTable(states: OciState[]): string {
  const rows = [HEADER, ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])];
  const widths = HEADER.map((_, column) =>
    Math.max(MIN_COLUMN_WIDTH, ...rows.map((row) => row[column].length + COLUMN_PADDING)),
  );
  // The last column is not padded: tabwriter only aligns cells that end in a tab.
  const last = HEADER.length - 1;
  return rows
    .map((row) => row.map((cell, i) => (i === last ? cell : cell.padEnd(widths[i]))).join('') + '\n')
    .join('');
}
