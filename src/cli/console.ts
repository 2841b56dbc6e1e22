// The terminal of a foreground `tsrunc run` or `exec -t` when the caller gave no
// --console-socket: the container sends its pty master to a socket of ours, and we pass bytes
// between it and our own stdio, as runc does. Our terminal is raw meanwhile (the container's pty
// does the line discipline). The master is read through a libuv stream (epoll), never the
// thread pool.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tty from 'node:tty';

import { RuntimeError } from '../errors';
import { native } from '../native';
import { readWhenReady } from '../runtime/fd-wait';

const RECEIVE_TIMEOUT_MS = 10_000;

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

  /** The pty master the container sent (it is already queued once create/exec returned). */
  async receiveMaster(): Promise<number> {
    const n = native();
    const connection = await readWhenReady(n, this.listenFd, RECEIVE_TIMEOUT_MS, () => {
      const fd = n.acceptUnix(this.listenFd);
      return fd < 0 ? null : fd;
    });
    if (connection === null) throw new RuntimeError('console: the container sent no pty master');
    try {
      const master = await readWhenReady(n, connection, RECEIVE_TIMEOUT_MS, () => n.tryReceiveFd(connection));
      if (master === null) throw new RuntimeError('console: the container sent no pty master');
      return master;
    } finally {
      n.closeFd(connection);
    }
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
  const onInput = (chunk: Buffer) => writeAll(masterFd, chunk);
  stdin.on('data', onInput);

  // Reading the master ends with EIO once every copy of the pty's other side is closed, that is
  // when the container's processes are gone.
  const master = new tty.ReadStream(masterFd);
  const drained = new Promise<void>((resolve) => {
    master.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    master.on('end', resolve);
    master.on('error', () => resolve());
    master.on('close', resolve);
  });

  return {
    async finish() {
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref())]);
      master.destroy();
      stdin.off('data', onInput);
      stdin.pause();
      process.stdout.off('resize', resize);
      if (stdin.isTTY) stdin.setRawMode(wasRaw);
    },
  };
}

// The master is non-blocking (the read stream made it so): a full pty buffer is retried.
function writeAll(fd: number, chunk: Buffer): void {
  fs.write(fd, chunk, (error, written) => {
    if (error && error.code === 'EAGAIN') {
      setTimeout(() => writeAll(fd, chunk), 10);
    } else if (!error && written < chunk.length) {
      writeAll(fd, chunk.subarray(written));
    }
  });
}
