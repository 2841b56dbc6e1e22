// tsrunc resume <container-id>: thaw a paused container.
import type { Argv } from 'yargs';

import { resume } from '../../runtime/resources';
import { type CommandArgs, containerId, globalOptions, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export function handler(args: CommandArgs): void {
  resume(globalOptions(args), containerId(args));
}
