// tsrunc run [create's flags] [--detach] [--keep] <container-id>: exits with the container's
// exit code (128+N for signal N) unless detached.
import type { Argv } from 'yargs';

import type { CommandArgs } from './common';
import { createOptions, withCreateFlags } from './create-flags';

export function builder(y: Argv): Argv {
  return withCreateFlags(y)
    .option('detach', {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'return once the container is started',
    })
    .option('keep', {
      type: 'boolean',
      default: false,
      describe: 'do not delete the container after it exits',
    });
}

export async function handler(args: CommandArgs): Promise<number> {
  const opts = { ...createOptions(args), detach: args.detach === true, keep: args.keep === true };
  const { run } = await import('../../runtime/run');
  return run(opts);
}
