// Helpers for the shim's ttrpc unit tests: a temp dir for unix sockets, a logger that records
// (and can be waited on), a promise released by hand, and a raw socket speaking frames.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../src/util/log';
import { encodeFrame, FrameReader, type Frame } from '../../src/shim/ttrpc/frame';

export function tempSocketDir(): { dir: string; socket(name: string): string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-test-'));
  return {
    dir,
    socket: (name) => path.join(dir, name),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
}

export interface RecordingLogger extends Logger {
  lines: LogLine[];
  /** Resolves at the first line (already logged or to come) of that level matching re. */
  waitFor(level: LogLine['level'], re: RegExp): Promise<LogLine>;
}

export function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const waiters: Array<{ level: string; re: RegExp; resolve(line: LogLine): void }> = [];
  const add = (level: LogLine['level'], msg: string): void => {
    const line = { level, msg };
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.level === level && w.re.test(msg)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  return {
    lines,
    debug: (msg) => add('debug', msg),
    info: (msg) => add('info', msg),
    warn: (msg) => add('warn', msg),
    error: (msg) => add('error', msg),
    waitFor: (level, re) => {
      const found = lines.find((l) => l.level === level && re.test(l.msg));
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ level, re, resolve }));
    },
  };
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Listens on a unix socket path; resolves once listening. */
export function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** A client socket that writes raw bytes and reads whole frames. */
export class RawConnection {
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  private readonly waiting: Array<(frame: Frame) => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.reader.push(chunk)) {
        const waiter = this.waiting.shift();
        if (waiter) waiter(frame);
        else this.frames.push(frame);
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(socketPath: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(streamId: number, type: number, payload: Uint8Array): void {
    this.write(encodeFrame(streamId, type, payload));
  }

  /** The next frame received (in arrival order). */
  next(): Promise<Frame> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  destroy(): void {
    this.socket.destroy();
  }
}
