// tsrunc start <container-id>
import type { Argv } from 'yargs';

import { type CommandArgs, containerId, globalOptions, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  const { start } = await import('../../runtime/start');
  await start(globalOptions(args), id);
}
