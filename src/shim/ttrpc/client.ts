// A ttrpc client (unary calls): odd stream ids from 1, +2 per call, as containerd/ttrpc's client
// allocates them; replies are matched by stream id, in whatever order they come.
import * as net from 'node:net';
import { ttrpcWire } from '../wire';
import { encodeFrame, FrameReader, FrameType, MAX_MESSAGE, tooLargeMessage } from './frame';
import type { Frame } from './frame';
import { Code, messageOf, TtrpcError } from './server';

/** The connection is gone (or was never there for this call): what Go's ttrpc calls ErrClosed. */
export class ClosedError extends Error {
  constructor(message = 'ttrpc: closed') {
    super(message);
    this.name = 'ClosedError';
  }
}

export interface ConnectOptions {
  /** How long to wait for the connection (default 5 s, the Go shim's dial timeout). */
  timeoutMs?: number;
  /** The socket and call timers do not keep the process alive (an event publisher's client). */
  unref?: boolean;
}

export interface CallOptions {
  timeoutMs?: number;
  metadata?: Record<string, string>;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export class TtrpcClient {
  private readonly reader = new FrameReader(MAX_MESSAGE);
  private readonly pending = new Map<number, Pending>();
  private readonly closeCallbacks: Array<() => void> = [];
  private nextStreamId = 1;
  private isClosed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly unref: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    // The error is reported to the callers through 'close' (ClosedError).
    socket.on('error', () => {});
    socket.on('close', () => this.teardown());
    // The server closing its side ends the connection: no call could be answered any more.
    socket.on('end', () => socket.destroy());
  }

  /** Connects to a unix socket path (a `unix://` prefix is stripped). */
  static connect(socketPath: string, opts: ConnectOptions = {}): Promise<TtrpcClient> {
    const target = socketPath.startsWith('unix://') ? socketPath.slice('unix://'.length) : socketPath;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: target });
      if (opts.unref) socket.unref();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`dial ${target}: timeout after ${timeoutMs} ms`));
      }, timeoutMs);
      if (opts.unref) timer.unref();
      const failed = (error: Error): void => {
        clearTimeout(timer);
        reject(new Error(`dial ${target}: ${error.message}`));
      };
      socket.once('error', failed);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        resolve(new TtrpcClient(socket, opts.unref ?? false));
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  call(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    if (this.isClosed) return Promise.reject(new ClosedError());
    const streamId = this.nextStreamId;
    this.nextStreamId += 2;
    const metadata = Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value }));
    const timeoutMs = opts.timeoutMs ?? 0;
    const body = ttrpcWire.Request.encode({
      service,
      method,
      payload,
      timeoutNano: timeoutMs > 0 ? Math.round(timeoutMs * 1e6) : 0,
      metadata,
    }).finish();
    if (body.length > MAX_MESSAGE) {
      return Promise.reject(
        new TtrpcError(Code.ResourceExhausted, tooLargeMessage(body.length, MAX_MESSAGE)),
      );
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const entry: Pending = { resolve, reject };
      if (timeoutMs > 0) {
        // ttrpc has no cancellation: the call is forgotten here and a late reply is ignored.
        entry.timer = setTimeout(() => {
          this.pending.delete(streamId);
          reject(new TtrpcError(Code.DeadlineExceeded, 'context deadline exceeded'));
        }, timeoutMs);
        if (this.unref) entry.timer.unref();
      }
      this.pending.set(streamId, entry);
      this.socket.write(encodeFrame(streamId, FrameType.Request, body));
    });
  }

  close(): void {
    this.socket.destroy();
    this.teardown();
  }

  /** Called once when the connection closes (at once if it already has). */
  onClose(fn: () => void): void {
    if (this.isClosed) queueMicrotask(fn);
    else this.closeCallbacks.push(fn);
  }

  private received(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch {
      // An oversized reply cannot be skipped reliably: the connection is unusable.
      this.close();
      return;
    }
    for (const frame of frames) {
      if (frame.type !== FrameType.Response) continue;
      const entry = this.pending.get(frame.streamId);
      if (!entry) continue; // timed out already, or never ours
      this.pending.delete(frame.streamId);
      if (entry.timer) clearTimeout(entry.timer);
      let response: ReturnType<typeof ttrpcWire.Response.decode>;
      try {
        response = ttrpcWire.Response.decode(frame.payload);
      } catch (error) {
        entry.reject(new TtrpcError(Code.Internal, `unmarshal response error: ${messageOf(error)}`));
        continue;
      }
      // Go's client accepts a status with code 0 as success too.
      const status = response.status;
      if (status && status.code) entry.reject(new TtrpcError(status.code, status.message ?? ''));
      else entry.resolve(response.payload);
    }
  }

  private teardown(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(new ClosedError());
    }
    for (const fn of this.closeCallbacks.splice(0)) {
      try {
        fn();
      } catch {
        // a close callback's failure is its own business
      }
    }
  }
}
