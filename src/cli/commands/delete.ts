// tsrunc delete [--force] <container-id>
import type { Argv } from 'yargs';

import { deleteContainer } from '../../runtime/lifecycle';
import { type CommandArgs, containerId, globalOptions, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y).option('force', {
    alias: 'f',
    type: 'boolean',
    default: false,
    describe: 'kill the container (SIGKILL) if it is still running',
  });
}

export async function handler(args: CommandArgs): Promise<void> {
  await deleteContainer(globalOptions(args), containerId(args), args.force === true);
}
