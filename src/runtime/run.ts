// `run`: create + start, then (unless --detach) wait for the container's process, forwarding
// signals to it, delete the container, and return its exit code (128+N for signal N).
import type { Spec } from '../spec/types';
import { loadConfig } from '../spec/validate';
import { ConsoleSocket, type ConsoleProxy, proxyConsole } from './console';
import { createContainer } from './create';
import { deleteContainer } from './lifecycle';
import type { RunOptions } from './options';
import { start } from './start';
import { waitForExit } from './wait';

export async function run(opts: RunOptions): Promise<number> {
  // In the foreground without a console socket, a terminal is ours to proxy (as runc does).
  const ownConsole =
    !opts.detach && !opts.consoleSocket && wantsTerminal(opts.bundle) ? new ConsoleSocket() : null;
  let proxy: ConsoleProxy | null = null;
  let record;
  try {
    ({ record } = await createContainer(ownConsole ? { ...opts, consoleSocket: ownConsole.path } : opts));
    if (ownConsole) proxy = proxyConsole(ownConsole.receiveMaster());
  } finally {
    ownConsole?.close();
  }
  try {
    await start(opts, opts.id);
  } catch (error) {
    await deleteContainer(opts, opts.id, true);
    await proxy?.finish();
    throw error;
  }
  if (opts.detach) return 0;
  const exitCode = await waitForExit(record.initPid);
  await proxy?.finish();
  if (!opts.keep) await deleteContainer(opts, opts.id, true);
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
