// Waiting in the foreground for a process tsrunc started (`run`, `exec`): stage 1 cloned it with
// CLONE_PARENT, so it is our child and we reap it; the signals a user sends us go to it.
import { native } from '../native';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Resolves with the exit code of child `pid` (128+N for signal N), forwarding signals to it. */
export function waitForExit(pid: number): Promise<number> {
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
