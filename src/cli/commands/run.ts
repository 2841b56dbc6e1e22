// tsrunc run [create's flags] [--detach] [--keep] <container-id>: exits with the container's
// exit code (128+N for signal N) unless detached.
import type { Argv } from 'yargs';

import { loadConfig } from '../../spec/validate';
import type { Spec } from '../../spec/types';
import { type ConsoleProxy, ConsoleSocket, proxyConsole } from '../console';
import { runtimeContext } from '../context';
import { waitInForeground } from '../foreground';
import type { CommandArgs } from './common';
import { createOptions, withCreateFlags } from './create-flags';

export function builder(y: Argv): Argv {
  return withCreateFlags(y)
    .option('detach', {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'return once the container is started',
    })
    .option('keep', {
      type: 'boolean',
      default: false,
      describe: 'do not delete the container after it exits',
    });
}

export async function handler(args: CommandArgs): Promise<number> {
  const { pidFile, ...opts } = createOptions(args);
  const detach = args.detach === true;
  const ctx = await runtimeContext(args, pidFile);
  const { createContainer } = await import('../../runtime/create');
  const { start } = await import('../../runtime/start');
  const { deleteContainer } = await import('../../runtime/lifecycle');
  // In the foreground without a console socket, a terminal is ours to proxy (as runc does).
  const ownConsole =
    !detach && !opts.consoleSocket && wantsTerminal(opts.bundle) ? new ConsoleSocket() : null;
  let proxy: ConsoleProxy | null = null;
  let created;
  try {
    created = await createContainer(ctx, ownConsole ? { ...opts, consoleSocket: ownConsole.path } : opts);
  } finally {
    if (!created) ownConsole?.close();
  }
  try {
    if (ownConsole) proxy = proxyConsole(await ownConsole.receiveMaster());
    await start(ctx, opts.id);
  } catch (error) {
    await proxy?.finish();
    await deleteContainer(ctx, opts.id, true);
    throw error;
  } finally {
    ownConsole?.close();
  }
  if (detach) return 0;
  const exitCode = await waitInForeground(created.init);
  await proxy?.finish();
  if (args.keep !== true) await deleteContainer(ctx, opts.id, true);
  return exitCode;
}

function wantsTerminal(bundle: string): boolean {
  try {
    // Parse only: create validates the same file a moment later and reports any problem.
    return (loadConfig(bundle) as Spec).process?.terminal === true;
  } catch {
    return false;
  }
}
