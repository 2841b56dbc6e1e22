// A ttrpc server (containerd/ttrpc 1.1 semantics, unary calls only): every request runs on its
// own and its reply is written when it completes, so a long Wait never holds up a Kill or State
// on the same connection. A bad connection (undecodable request, oversized frame) is answered
// if possible and closed on its own; the other connections keep being served.
import type * as net from 'node:net';
import type { Logger } from '../../util/log';
import type { MessageType } from '../wire';
import { ttrpcWire } from '../wire';
import { encodeFrame, FrameReader, FrameTooLarge, FrameType, MAX_MESSAGE, tooLargeMessage } from './frame';
import type { Frame } from './frame';

/** gRPC status codes (google/rpc/code.proto), which ttrpc carries unchanged. */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
} as const;

/** An error with a status code: what a handler throws to choose the code its caller sees. */
export class TtrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'TtrpcError';
  }
}

export interface RequestContext {
  service: string;
  method: string;
  /** The caller's deadline relative to the request's arrival, in ns; 0 when it has none. */
  timeoutNano: number;
  /** Request metadata, keys lower-cased (as Go's ttrpc.MD stores them); the last value wins. */
  metadata: Map<string, string>;
  connectionId: number;
}

export type Handler = (payload: Uint8Array, ctx: RequestContext) => Promise<Uint8Array>;

/** Decode the request with `req`, call fn, encode its result with `res`. */
export function unary<Req, Res>(
  req: MessageType<Req>,
  res: MessageType<Res>,
  fn: (request: Req, ctx: RequestContext) => Promise<Res>,
): Handler {
  return async (payload, ctx) => {
    let request: Req;
    try {
      request = req.decode(payload);
    } catch (error) {
      // Go's ttrpc answers an undecodable payload with Internal.
      throw new TtrpcError(Code.Internal, `error unmarshalling payload: ${messageOf(error)}`);
    }
    return res.encode(await fn(request, ctx)).finish();
  };
}

export interface TtrpcServerOptions {
  logger: Logger;
  /** Largest payload accepted or sent (default 4 MiB, ttrpc's limit). */
  maxMessage?: number;
}

interface Connection {
  id: number;
  socket: net.Socket;
  reader: FrameReader;
  closed: boolean;
}

export class TtrpcServer {
  private readonly logger: Logger;
  private readonly maxMessage: number;
  private readonly services = new Map<string, Record<string, Handler>>();
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Map<number, Connection>();
  private readonly closedCallbacks: Array<(connectionId: number) => void> = [];
  private nextConnectionId = 1;
  private closing = false;

  constructor(opts: TtrpcServerOptions) {
    this.logger = opts.logger;
    this.maxMessage = opts.maxMessage ?? MAX_MESSAGE;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  register(service: string, methods: Record<string, Handler>): void {
    if (this.services.has(service)) throw new Error(`ttrpc service ${service} registered twice`);
    this.services.set(service, { ...methods });
  }

  /** Serve connections of a listening net.Server (the shim passes one made from an inherited fd or a path). */
  serve(listener: net.Server): void {
    this.listeners.push(listener);
    listener.on('connection', (socket: net.Socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.accept(socket);
    });
  }

  /** Called when a connection closes (the shim uses it for bookkeeping). */
  onConnectionClosed(fn: (connectionId: number) => void): void {
    this.closedCallbacks.push(fn);
  }

  /** Stop accepting, close every connection, resolve when closed. */
  async close(): Promise<void> {
    this.closing = true;
    const listenersClosed = this.listeners.splice(0).map(
      (listener) =>
        new Promise<void>((resolve) => {
          // A listener that is not listening (any more) calls back with an error: nothing to wait for.
          listener.close(() => resolve());
        }),
    );
    const connectionsClosed = [...this.connections.values()].map(
      (conn) =>
        new Promise<void>((resolve) => {
          if (conn.socket.destroyed) return resolve();
          conn.socket.once('close', () => resolve());
          conn.socket.destroy();
        }),
    );
    await Promise.all([...listenersClosed, ...connectionsClosed]);
  }

  private accept(socket: net.Socket): void {
    const conn: Connection = {
      id: this.nextConnectionId++,
      socket,
      reader: new FrameReader(this.maxMessage),
      closed: false,
    };
    this.connections.set(conn.id, conn);
    // EPIPE/ECONNRESET after the peer went away: 'close' follows and does the bookkeeping.
    socket.on('error', (error) => this.logger.debug(`ttrpc connection ${conn.id}: ${error.message}`));
    socket.on('close', () => this.connectionClosed(conn));
    socket.on('data', (chunk: Buffer) => this.received(conn, chunk));
    socket.on('end', () => {
      if (conn.reader.pending > 0) {
        this.logger.debug(`ttrpc connection ${conn.id}: closed in the middle of a frame`);
      }
    });
  }

  private received(conn: Connection, chunk: Buffer): void {
    if (conn.closed) return;
    let frames: Frame[];
    try {
      frames = conn.reader.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameTooLarge)) {
        this.logger.error(`ttrpc connection ${conn.id}: ${messageOf(error)}`);
        this.shut(conn);
        return;
      }
      for (const frame of error.frames) this.frame(conn, frame);
      this.logger.warn(`ttrpc connection ${conn.id}: ${error.message}`);
      this.respondStatus(conn, error.streamId, Code.ResourceExhausted, error.message);
      this.shut(conn);
      return;
    }
    for (const frame of frames) {
      if (conn.closed) return;
      this.frame(conn, frame);
    }
  }

  private frame(conn: Connection, frame: Frame): void {
    // Other types are reserved for later protocol versions: ignored, as ttrpc does.
    if (frame.type !== FrameType.Request) return;
    if (frame.streamId % 2 !== 1) {
      this.respondStatus(
        conn,
        frame.streamId,
        Code.InvalidArgument,
        'StreamID must be odd for client initiated streams',
      );
      return;
    }
    let request: ReturnType<typeof ttrpcWire.Request.decode>;
    try {
      request = ttrpcWire.Request.decode(frame.payload);
    } catch (error) {
      // The peer does not speak ttrpc (or is corrupt): answer that stream, then drop the peer.
      const message = `unmarshal request error: ${messageOf(error)}`;
      this.logger.warn(`ttrpc connection ${conn.id}: ${message}`);
      this.respondStatus(conn, frame.streamId, Code.InvalidArgument, message);
      this.shut(conn);
      return;
    }
    this.dispatch(conn, frame.streamId, request);
  }

  private dispatch(
    conn: Connection,
    streamId: number,
    request: ReturnType<typeof ttrpcWire.Request.decode>,
  ): void {
    const { service, method } = request;
    const methods = this.services.get(service);
    if (!methods) return this.respondStatus(conn, streamId, Code.Unimplemented, `service ${service}`);
    const handler = Object.prototype.hasOwnProperty.call(methods, method) ? methods[method] : undefined;
    if (!handler) return this.respondStatus(conn, streamId, Code.Unimplemented, `method ${method}`);

    const metadata = new Map<string, string>();
    for (const kv of request.metadata) metadata.set((kv.key ?? '').toLowerCase(), kv.value ?? '');
    const ctx: RequestContext = {
      service,
      method,
      timeoutNano: request.timeoutNano,
      metadata,
      connectionId: conn.id,
    };
    void this.run(conn, streamId, handler, request.payload, ctx);
  }

  private async run(
    conn: Connection,
    streamId: number,
    handler: Handler,
    payload: Uint8Array,
    ctx: RequestContext,
  ): Promise<void> {
    const name = `${ctx.service}/${ctx.method}`;
    try {
      let result: Uint8Array;
      try {
        result = await handler(payload, ctx);
      } catch (error) {
        if (error instanceof TtrpcError) {
          this.respondStatus(conn, streamId, error.code, error.message);
          return;
        }
        const message = messageOf(error);
        this.logger.error(`ttrpc ${name}: ${message}`);
        this.respondStatus(conn, streamId, Code.Unknown, message);
        return;
      }
      this.respondPayload(conn, streamId, result);
    } catch (error) {
      // Encoding or writing the reply failed: the caller still gets an answer if it can.
      const message = messageOf(error);
      this.logger.error(`ttrpc ${name}: reply: ${message}`);
      try {
        this.respondStatus(conn, streamId, Code.Internal, message);
      } catch {
        // nothing left to try
      }
    }
  }

  private respondPayload(conn: Connection, streamId: number, payload: Uint8Array): void {
    // Success carries no status at all, as Go's ttrpc sends it.
    const body = ttrpcWire.Response.encode({ payload }).finish();
    if (body.length > this.maxMessage) {
      const message = tooLargeMessage(body.length, this.maxMessage);
      this.logger.error(`ttrpc connection ${conn.id}: reply to stream ${streamId}: ${message}`);
      this.respondStatus(conn, streamId, Code.ResourceExhausted, message);
      return;
    }
    this.write(conn, streamId, body);
  }

  private respondStatus(conn: Connection, streamId: number, code: number, message: string): void {
    this.write(conn, streamId, ttrpcWire.Response.encode({ status: { code, message } }).finish());
  }

  private write(conn: Connection, streamId: number, body: Uint8Array): void {
    // A reply for a connection that is gone (or going) is dropped: nobody is left to read it.
    if (conn.closed || conn.socket.destroyed || !conn.socket.writable) return;
    conn.socket.write(encodeFrame(streamId, FrameType.Response, body));
  }

  // Closes one connection after what was already written has been sent.
  private shut(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    const socket = conn.socket;
    // Destroyed once the answer is flushed; a peer that reads nothing does not keep it open.
    socket.end(() => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private connectionClosed(conn: Connection): void {
    if (!this.connections.delete(conn.id)) return;
    conn.closed = true;
    for (const fn of this.closedCallbacks) {
      try {
        fn(conn.id);
      } catch (error) {
        this.logger.error(`ttrpc connection ${conn.id}: close callback: ${messageOf(error)}`);
      }
    }
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
