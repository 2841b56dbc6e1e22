// --console-socket: the init (or exec'd process) connects there and sends its pty master.
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
