// tsrunc create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] [--no-new-keyring]
//               [--preserve-fds N] <container-id>
import type { Argv } from 'yargs';

import { runtimeContext } from '../context';
import type { CommandArgs } from './common';
import { createOptions, withCreateFlags } from './create-flags';

export function builder(y: Argv): Argv {
  return withCreateFlags(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const { pidFile, ...opts } = createOptions(args);
  const ctx = await runtimeContext(args, pidFile);
  const { createContainer } = await import('../../runtime/create');
  await createContainer(ctx, opts);
}
