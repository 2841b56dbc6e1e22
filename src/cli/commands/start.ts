// tsrunc start <container-id>
import type { Argv } from 'yargs';

import { runtimeContext } from '../context';
import { type CommandArgs, containerId, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  const { start } = await import('../../runtime/start');
  await start(await runtimeContext(args), id);
}
