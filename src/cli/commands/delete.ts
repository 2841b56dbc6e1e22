// tsrunc delete [--force] <container-id>
import type { Argv } from 'yargs';

import { deleteContainer } from '../../runtime/lifecycle';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y).option('force', {
    alias: 'f',
    type: 'boolean',
    default: false,
    describe: 'kill the container (SIGKILL) if it is still running',
  });
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  await deleteContainer(await runtimeContext(args), id, args.force === true);
}
