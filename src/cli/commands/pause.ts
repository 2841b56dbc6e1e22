// tsrunc pause <container-id>: freeze every process of the container.
import type { Argv } from 'yargs';

import { pause } from '../../runtime/resources';
import { type CommandArgs, containerId, globalOptions, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export function handler(args: CommandArgs): void {
  pause(globalOptions(args), containerId(args));
}
