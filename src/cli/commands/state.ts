// tsrunc state <container-id>: the OCI state, pretty-printed like runc.
import type { Argv } from 'yargs';

import { state } from '../../runtime/lifecycle';
import { type CommandArgs, containerId, globalOptions, print, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export function handler(args: CommandArgs): void {
  print(JSON.stringify(state(globalOptions(args), containerId(args)), null, 2));
}
