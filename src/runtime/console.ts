// --console-socket: the init (or exec'd process) connects there and sends its pty master. A
// caller that already has a connected socket (the shim: one end of a socketpair) passes its fd
// instead (consoleSocketFd); that fd stays the caller's: the library never closes it.
import * as fs from 'node:fs';

import type { NativeBinding } from '../native';
import { RuntimeError } from '../errors';

/** A connected fd for --console-socket (an absolute path), where the init sends the pty master. */
export function connectConsoleSocket(native: Pick<NativeBinding, 'connectUnix'>, socketPath: string): number {
  try {
    return native.connectUnix(socketPath);
  } catch (error) {
    throw new RuntimeError(`--console-socket: cannot connect to ${socketPath}: ${(error as Error).message}`);
  }
}

/** The two ways to name the console socket are exclusive; a given fd must be an open socket. */
export function checkConsoleSocketFd(opts: { consoleSocket?: string; consoleSocketFd?: number }): void {
  const fd = opts.consoleSocketFd;
  if (fd === undefined) return;
  if (opts.consoleSocket !== undefined)
    throw new RuntimeError('consoleSocketFd: give either it or --console-socket, not both');
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff)
    throw new RuntimeError(`consoleSocketFd: ${fd} is not an fd`);
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    throw new RuntimeError(`consoleSocketFd: fd ${fd} is not open`);
  }
  if (!stat.isSocket()) throw new RuntimeError(`consoleSocketFd: fd ${fd} is not a socket`);
}

/** The console socket fd for the plan: the caller's own (not ours to close), a connection to
 *  --console-socket made now (handed to `keep`, which closes it), or -1 for none. */
export function consoleSocketForPlan(
  native: Pick<NativeBinding, 'connectUnix'>,
  opts: { consoleSocket?: string; consoleSocketFd?: number },
  keep: (fd: number) => number,
): number {
  if (opts.consoleSocketFd !== undefined) return opts.consoleSocketFd;
  if (opts.consoleSocket) return keep(connectConsoleSocket(native, opts.consoleSocket));
  return -1;
}
