// tsrunc spec [--bundle B] [--rootless]: write a default config.json, never over an existing one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';

import { RuntimeError } from '../../errors';
import { type CommandArgs, pathArg } from './common';

export function builder(y: Argv): Argv {
  return y
    .option('bundle', {
      alias: 'b',
      type: 'string',
      describe: 'bundle directory (default: current directory)',
    })
    .option('rootless', { type: 'boolean', default: false, describe: 'a spec for a rootless container' });
}

export async function handler(args: CommandArgs): Promise<void> {
  const { defaultSpec } = await import('../../runtime/default-spec');
  const file = path.join(pathArg(args, 'bundle') ?? process.cwd(), 'config.json');
  const text = `${JSON.stringify(defaultSpec({ rootless: args.rootless === true }), null, '\t')}\n`;
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
