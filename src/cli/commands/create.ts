// tsrunc create [--bundle B] [--pid-file P] [--console-socket S] [--no-pivot] [--no-new-keyring]
//               [--preserve-fds N] <container-id>
import type { Argv } from 'yargs';

import { runtimeContext } from '../context';
import { writePidFile } from '../foreground';
import type { CommandArgs } from './common';
import { createOptions, withCreateFlags } from './create-flags';

export function builder(y: Argv): Argv {
  return withCreateFlags(y);
}

export async function handler(args: CommandArgs): Promise<void> {
  const { pidFile, ...opts } = createOptions(args);
  const ctx = await runtimeContext(args);
  const { createContainer } = await import('../../runtime/create');
  const { record } = await createContainer(ctx, opts);
  if (pidFile) await writePidFileOrDelete(ctx, opts.id, pidFile, record.initPid);
}

/** runc writes the pid file last; if it cannot, the create fails and leaves nothing behind. */
export async function writePidFileOrDelete(
  ctx: Awaited<ReturnType<typeof runtimeContext>>,
  id: string,
  pidFile: string,
  pid: number,
): Promise<void> {
  try {
    await writePidFile(pidFile, pid);
  } catch (error) {
    const { deleteContainer } = await import('../../runtime/lifecycle');
    await deleteContainer(ctx, id, true).catch(() => {});
    throw error;
  }
}
