// Waiting in the foreground for a process the CLI started (`run`, `exec`): it is our child, the
// runtime's reaper takes its exit, and the signals a user sends us go to it.
import type { ChildWatch } from '../runtime/reaper';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** The exit code of the child (128+N for signal N), forwarding our signals to it meanwhile. */
export async function waitInForeground(child: ChildWatch): Promise<number> {
  const forward = (signal: NodeJS.Signals) => {
    try {
      if (child.status() === null) process.kill(child.pid, signal);
    } catch {
      // exited meanwhile
    }
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    return (await child.wait()).exitCode;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
