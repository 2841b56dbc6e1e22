// tsrunc state <container-id>: the OCI state, pretty-printed like runc.
import type { Argv } from 'yargs';

import { state } from '../../runtime/lifecycle';
import { runtimeContext } from '../context';
import { type CommandArgs, containerId, print, withContainerId } from './common';

export function builder(y: Argv): Argv {
  return withContainerId(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const id = containerId(args);
  print(JSON.stringify(await state(await runtimeContext(args), id), null, 2));
}
