// tsrunc spec [--bundle B] [--rootless]: write a default config.json, never over an existing one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { type CommandArgs, pathArg } from './common';

// The global `--rootless <value>` (runc's, ignored) shares the name, and yargs merges the two
// into one string option: the command's own flag gets a key of its own before parsing.
const ROOTLESS_KEY = 'spec-rootless';

export function prepareArgs(args: string[]): string[] {
  return args.map((arg) =>
    arg === '--rootless' || arg.startsWith('--rootless=') ? `--${ROOTLESS_KEY}${arg.slice(10)}` : arg,
  );
}

export function builder(y: Argv): Argv {
  return y
    .option('bundle', {
      alias: 'b',
      type: 'string',
      describe: 'bundle directory (default: current directory)',
    })
    .option(ROOTLESS_KEY, { type: 'boolean', default: false, hidden: true })
    .option('rootless', { type: 'boolean', describe: 'a spec for a rootless container' });
}

export async function handler(args: CommandArgs): Promise<void> {
  const { defaultSpec } = await import('../../runtime/default-spec');
  const file = path.join(pathArg(args, 'bundle') ?? process.cwd(), 'config.json');
  const text = `${JSON.stringify(defaultSpec({ rootless: args[ROOTLESS_KEY] === true }), null, '\t')}\n`;
  try {
    // 'wx': the existence check and the creation are one step.
    fs.writeFileSync(file, text, { flag: 'wx', mode: 0o666 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // runc's exact wording.
    if (code === 'EEXIST') throw new RuntimeError('File config.json exists. Remove it first.');
    if (code === 'ENOENT') throw new RuntimeError(`bundle directory ${path.dirname(file)} does not exist`);
    throw error;
  }
}
