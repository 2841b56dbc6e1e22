// tsrunc resume <container-id>: thaw a paused container.
import type { Argv } from 'yargs';

import { resume } from '../../runtime/resources';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  await resume(await runtimeContext(args), id);
}
