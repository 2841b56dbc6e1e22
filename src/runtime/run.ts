// `run`: create + start, then (unless --detach) wait for the container's process, forwarding
// signals to it, delete the container, and return its exit code (128+N for signal N).
import { native } from '../native';
import type { Spec } from '../spec/types';
import { loadConfig } from '../spec/validate';
import { ConsoleSocket, type ConsoleProxy, proxyConsole } from './console';
import { createContainer } from './create';
import { deleteContainer } from './lifecycle';
import type { RunOptions } from './options';
import { start } from './start';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

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

// The init is our child (stage 1 cloned it with CLONE_PARENT), so we reap it here.
function waitForExit(pid: number): Promise<number> {
  return new Promise((resolve) => {
    const forward = (signal: NodeJS.Signals) => {
      try {
        process.kill(pid, signal);
      } catch {
        // exited meanwhile
      }
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const check = () => {
      const result = native().waitPid(pid, false);
      if (result.pid === 0) return;
      clearInterval(timer);
      process.off('SIGCHLD', check);
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(result.exitCode);
    };
    // SIGCHLD wakes us at once; the interval covers a signal that libuv consumed.
    process.on('SIGCHLD', check);
    const timer = setInterval(check, 100);
    check();
  });
}
