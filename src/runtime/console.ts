// The terminal of a foreground `tsrunc run` when the caller gave no --console-socket: the init
// sends its pty master to a socket of ours, and we pass bytes between it and our own stdio, as
// runc does. Our terminal is raw meanwhile (the container's pty does the line discipline).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { native } from '../native';
import { RuntimeError } from './errors';

/** A connected fd for --console-socket, where the init sends the pty master. */
export function connectConsoleSocket(socketPath: string): number {
  try {
    return native().connectUnix(path.resolve(socketPath));
  } catch (error) {
    throw new RuntimeError(`--console-socket: cannot connect to ${socketPath}: ${(error as Error).message}`);
  }
}

/** A listening console socket in a private temp dir. */
export class ConsoleSocket {
  readonly path: string;
  private readonly dir: string;
  private readonly listenFd: number;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-console-'));
    this.path = path.join(this.dir, 'console.sock');
    this.listenFd = native().listenUnix(this.path);
  }

  /** The pty master the init sent (it is already queued once `create` has returned). */
  receiveMaster(): number {
    return native().receiveFd(this.listenFd, 10_000);
  }

  close(): void {
    native().closeFd(this.listenFd);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ConsoleProxy {
  /** Wait for the container's last output (bounded), then restore our terminal. */
  finish(): Promise<void>;
}

const DRAIN_TIMEOUT_MS = 2_000;

export function proxyConsole(masterFd: number): ConsoleProxy {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const resize = () => {
    if (process.stdout.isTTY) native().setWindowSize(masterFd, process.stdout.rows, process.stdout.columns);
  };
  resize();
  process.stdout.on('resize', resize);
  const onInput = (chunk: Buffer) => fs.write(masterFd, chunk, () => {});
  stdin.on('data', onInput);

  // Reading the master ends with EIO once every copy of the pty's other side is closed, that is
  // when the container's processes are gone.
  const drained = new Promise<void>((resolve) => {
    const buffer = Buffer.alloc(64 * 1024);
    const pump = () =>
      fs.read(masterFd, buffer, 0, buffer.length, null, (error, n) => {
        if (error || n === 0) return resolve();
        process.stdout.write(Buffer.from(buffer.subarray(0, n)), () => pump());
      });
    pump();
  });

  return {
    async finish() {
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref())]);
      stdin.off('data', onInput);
      stdin.pause();
      process.stdout.off('resize', resize);
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
    },
  };
}
