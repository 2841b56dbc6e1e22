// tsrunc pause <container-id>: freeze every process of the container.
import type { Argv } from 'yargs';

import { pause } from '../../runtime/resources';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  await pause(await runtimeContext(args), id);
}
