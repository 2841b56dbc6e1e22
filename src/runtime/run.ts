// `run`: create + start, then (unless --detach) wait for the container's process, forwarding
// signals to it, delete the container, and return its exit code (128+N for signal N).
import { native } from '../native';
import { createContainer } from './create';
import { deleteContainer } from './lifecycle';
import type { RunOptions } from './options';
import { start } from './start';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export async function run(opts: RunOptions): Promise<number> {
  const { record } = await createContainer(opts);
  try {
    await start(opts, opts.id);
  } catch (error) {
    await deleteContainer(opts, opts.id, true);
    throw error;
  }
  if (opts.detach) return 0;
  const exitCode = await waitForExit(record.initPid);
  if (!opts.keep) await deleteContainer(opts, opts.id, true);
  return exitCode;
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
