// tsrunc kill [--all] <container-id> [signal]; the signal is a name (KILL, SIGKILL) or a number.
import type { Argv } from 'yargs';

import { kill } from '../../runtime/lifecycle';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, stringArg, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y)
    .positional('signal', { type: 'string', describe: 'signal name or number (default SIGTERM)' })
    .option('all', {
      alias: 'a',
      type: 'boolean',
      default: false,
      describe: 'signal every process of the container',
    });
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  await kill(await runtimeContext(args), id, stringArg(args, 'signal'), args.all === true);
}
