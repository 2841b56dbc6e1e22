// The shim's ttrpc layer: framing, the server's concurrency and error answers, the client.
// Byte vectors come from the containerd 1.6.20 recordings (see TRACE below); everything else
// runs over real unix sockets in a temp dir.
import * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { events, forward, task, ttrpcWire, wellKnown } from '../../src/shim/proto';
import { ClosedError, TtrpcClient } from '../../src/shim/ttrpc/client';
import {
  encodeFrame,
  FrameReader,
  FrameTooLarge,
  FrameType,
  HEADER_LENGTH,
  MAX_MESSAGE,
  type Frame,
} from '../../src/shim/ttrpc/frame';
import { Code, TtrpcError, TtrpcServer, unary, type Handler } from '../../src/shim/ttrpc/server';
import {
  deferred,
  listen,
  RawConnection,
  recordingLogger,
  tempSocketDir,
  type RecordingLogger,
} from '../helpers/ttrpc';

// TRACE: frames of /work/shared/containerd-shim-v2/traces/*.jsonl (containerd 1.6.20 and its Go
// runc shim, recorded through a proxy). The traces keep each frame's header and its decoded
// fields, not the raw bytes: these hex strings encode exactly those fields, and their headers
// (length, stream id, type) are the recorded ones, so a wrong field number, wire type or
// omitted/added field would change the recorded length. CONNECT_REQUEST, CONNECT_RESPONSE and
// KILL_NOT_FOUND are also the worked bytes of SHIM-PROTOCOL.md section 2.4.

// A-run-rm.jsonl line 8: api-req sid 3, len 40, Task/Connect {id:"c1"}.
const CONNECT_REQUEST =
  '000000280000000301000a17636f6e7461696e6572642e7461736b2e76322e5461736b1207436f6e6e6563741a040a026331';
// A-run-rm.jsonl line 10: api-resp sid 3, len 8, status none, {shim_pid:2381, task_pid:2400}.
const CONNECT_RESPONSE = '00000008000000030200120608cd1210e012';
// C2-kill-delete.jsonl line 13: api-req sid 99, len 39, Task/Kill {id:"c3", signal:9}.
const KILL_REQUEST =
  '000000270000006301000a17636f6e7461696e6572642e7461736b2e76322e5461736b12044b696c6c1a060a0263331809';
// C2-kill-delete.jsonl line 14: api-resp sid 99, len 41, status {5, "process already finished: not found"}.
const KILL_NOT_FOUND =
  '000000290000006302000a270805122370726f6365737320616c72656164792066696e69736865643a206e6f7420666f756e64';
// A-run-rm.jsonl line 9: event-req sid 1, len 369, Events/Forward of /tasks/create, timeout_nano
// 4999928846, metadata containerd-namespace-ttrpc=tsrec.
const FORWARD_CREATE =
  '000001710000000101000a2a636f6e7461696e6572642e73657276696365732e6576656e74732e74747270632e76312e4576656e7473' +
  '1207466f72776172641a8e020a8b020a0c08e2a2bed80610b9d7918b01120574737265631a0d2f7461736b732f637265617465' +
  '22e4010a1c636f6e7461696e6572642e6576656e74732e5461736b43726561746512c3010a026331123b2f72756e2f637472642d' +
  '746573742f73746174652f696f2e636f6e7461696e6572642e72756e74696d652e76322e7461736b2f74737265632f6331227d0a' +
  '272f72756e2f636f6e7461696e6572642f6669666f2f3538383635353132362f63312d737464696e12282f72756e2f636f6e7461' +
  '696e6572642f6669666f2f3538383635353132362f63312d7374646f75741a282f72756e2f636f6e7461696e6572642f666966' +
  '6f2f3538383635353132362f63312d73746465727230e012208eb893d0122a230a1a636f6e7461696e6572642d6e616d657370' +
  '6163652d747472706312057473726563';

const TASK = 'containerd.task.v2.Task';
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

function onlyFrame(bytes: Buffer): Frame {
  const frames = new FrameReader().push(bytes);
  expect(frames).toHaveLength(1);
  return frames[0];
}

describe('ttrpc frames and messages against recorded frames', () => {
  it('a Connect request decodes to the recorded fields and re-encodes to the same bytes', () => {
    const frame = onlyFrame(hex(CONNECT_REQUEST));
    expect(frame).toMatchObject({ streamId: 3, type: FrameType.Request, flags: 0 });
    expect(frame.payload.length).toBe(40);
    const request = ttrpcWire.Request.decode(frame.payload);
    expect(request).toMatchObject({ service: TASK, method: 'Connect', timeoutNano: 0, metadata: [] });
    expect(task.ConnectRequest.decode(request.payload).id).toBe('c1');

    const payload = task.ConnectRequest.encode({ id: 'c1' }).finish();
    const body = ttrpcWire.Request.encode({ service: TASK, method: 'Connect', payload }).finish();
    expect(encodeFrame(3, FrameType.Request, body).toString('hex')).toBe(CONNECT_REQUEST);
  });

  it('a success response carries only a payload (no status field)', () => {
    const frame = onlyFrame(hex(CONNECT_RESPONSE));
    expect(frame).toMatchObject({ streamId: 3, type: FrameType.Response });
    const response = ttrpcWire.Response.decode(frame.payload);
    expect(response.status).toBeFalsy();
    expect(task.ConnectResponse.decode(response.payload)).toMatchObject({ shimPid: 2381, taskPid: 2400 });
    // Field 2 (payload) is the first and only field.
    expect(frame.payload[0]).toBe(0x12);
  });

  it('an error response carries only a status', () => {
    const frame = onlyFrame(hex(KILL_NOT_FOUND));
    expect(frame).toMatchObject({ streamId: 99, type: FrameType.Response });
    const response = ttrpcWire.Response.decode(frame.payload);
    expect(response.status).toMatchObject({
      code: Code.NotFound,
      message: 'process already finished: not found',
    });
    expect(response.payload).toHaveLength(0);
    const body = ttrpcWire.Response.encode({
      status: { code: 5, message: 'process already finished: not found' },
    });
    expect(encodeFrame(99, FrameType.Response, body.finish()).toString('hex')).toBe(KILL_NOT_FOUND);
  });

  it('a recorded Forward event request decodes field by field and re-encodes to the same bytes', () => {
    const frame = onlyFrame(hex(FORWARD_CREATE));
    expect(frame).toMatchObject({ streamId: 1, type: FrameType.Request });
    expect(frame.payload.length).toBe(369);
    const request = ttrpcWire.Request.decode(frame.payload);
    expect(request).toMatchObject({
      service: 'containerd.services.events.ttrpc.v1.Events',
      method: 'Forward',
      timeoutNano: 4999928846,
      metadata: [{ key: 'containerd-namespace-ttrpc', value: 'tsrec' }],
    });
    const { envelope } = forward.ForwardRequest.decode(request.payload);
    expect(envelope).toMatchObject({
      timestamp: { seconds: 1796182370, nanos: 291793849 },
      namespace: 'tsrec',
      topic: '/tasks/create',
      event: { type_url: 'containerd.events.TaskCreate' },
    });
    expect(events.TaskCreate.decode(envelope!.event!.value!)).toMatchObject({
      containerId: 'c1',
      bundle: '/run/ctrd-test/state/io.containerd.runtime.v2.task/tsrec/c1',
      io: {
        stdin: '/run/containerd/fifo/588655126/c1-stdin',
        stdout: '/run/containerd/fifo/588655126/c1-stdout',
        stderr: '/run/containerd/fifo/588655126/c1-stderr',
      },
      pid: 2400,
    });
    const again = ttrpcWire.Request.encode(request).finish();
    expect(encodeFrame(1, FrameType.Request, again).toString('hex')).toBe(FORWARD_CREATE);
  });

  it('decodes 64-bit fields as plain numbers (the zero time of SHIM-PROTOCOL.md 2.4)', () => {
    const zero = wellKnown.Timestamp.decode(hex('088092b8c398feffffff01'));
    expect(zero.seconds).toBe(-62135596800);
    expect(wellKnown.Timestamp.decode(new Uint8Array(0)).seconds).toBe(0);
    expect(ttrpcWire.Request.decode(new Uint8Array(0)).timeoutNano).toBe(0);
  });
});

describe('FrameReader', () => {
  const emptyFrame = encodeFrame(7, FrameType.Response, new Uint8Array(0));
  const stream = Buffer.concat([hex(CONNECT_REQUEST), hex(KILL_NOT_FOUND), emptyFrame, hex(FORWARD_CREATE)]);
  const expected = [
    { streamId: 3, type: 1, length: 40 },
    { streamId: 99, type: 2, length: 41 },
    { streamId: 7, type: 2, length: 0 },
    { streamId: 1, type: 1, length: 369 },
  ];
  const summary = (frames: Frame[]) =>
    frames.map((f) => ({ streamId: f.streamId, type: f.type, length: f.payload.length }));

  it('reassembles frames split at every byte boundary', () => {
    expect.assertions(3 * (stream.length + 1));
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader();
      const frames = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      expect(summary(frames)).toEqual(expected);
      expect(Buffer.concat(frames.map((f) => encodeFrame(f.streamId, f.type, f.payload)))).toEqual(stream);
      expect(reader.pending).toBe(0);
    }
  });

  it('reassembles frames fed one byte at a time', () => {
    const reader = new FrameReader();
    const frames: Frame[] = [];
    for (let i = 0; i < stream.length; i++) frames.push(...reader.push(stream.subarray(i, i + 1)));
    expect(summary(frames)).toEqual(expected);
  });

  it('returns every frame of a chunk holding several, and keeps a partial one for later', () => {
    const reader = new FrameReader();
    const partial = hex(CONNECT_RESPONSE);
    expect(summary(reader.push(Buffer.concat([stream, partial.subarray(0, 12)])))).toEqual(expected);
    expect(reader.pending).toBe(12);
    const rest = reader.push(partial.subarray(12));
    expect(summary(rest)).toEqual([{ streamId: 3, type: 2, length: 8 }]);
  });

  it('accepts a payload of exactly the limit and refuses one byte more, naming the stream', () => {
    const reader = new FrameReader(16);
    expect(reader.push(encodeFrame(1, 1, Buffer.alloc(16)))).toHaveLength(1);
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(17, 0);
    header.writeUInt32BE(5, 4);
    header[8] = 1;
    let error: unknown;
    try {
      reader.push(Buffer.concat([encodeFrame(3, 1, Buffer.from('ab')), header]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FrameTooLarge);
    const tooLarge = error as FrameTooLarge;
    expect(tooLarge.streamId).toBe(5);
    expect(tooLarge.message).toBe('message length 17 exceed maximum message size of 16');
    // The frame before it in the same chunk is not lost.
    expect(summary(tooLarge.frames)).toEqual([{ streamId: 3, type: 1, length: 2 }]);
    expect(() => reader.push(Buffer.alloc(1))).toThrow(FrameTooLarge);
  });

  it('uses 4 MiB as the default limit', () => {
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt32BE(MAX_MESSAGE, 0);
    expect(new FrameReader().push(header)).toEqual([]);
    header.writeUInt32BE(MAX_MESSAGE + 1, 0);
    expect(() => new FrameReader().push(header)).toThrow(
      'message length 4194305 exceed maximum message size of 4194304',
    );
  });
});

// Everything below runs a TtrpcServer on a unix socket.
let dir: ReturnType<typeof tempSocketDir>;
let logger: RecordingLogger;
let server: TtrpcServer;
const servers: TtrpcServer[] = [];
let listener: net.Server;
let socketPath: string;
const toClose: Array<{ close(): unknown }> = [];

beforeEach(() => {
  dir = tempSocketDir();
  logger = recordingLogger();
});

afterEach(async () => {
  for (const c of toClose.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
  dir.cleanup();
});

async function startServer(services: Record<string, Record<string, Handler>>): Promise<void> {
  server = new TtrpcServer({ logger });
  servers.push(server);
  for (const [name, methods] of Object.entries(services)) server.register(name, methods);
  listener = net.createServer();
  socketPath = dir.socket('ttrpc.sock');
  server.serve(listener);
  await listen(listener, socketPath);
}

async function client(): Promise<TtrpcClient> {
  const c = await TtrpcClient.connect(socketPath);
  toClose.push(c);
  return c;
}

async function raw(): Promise<RawConnection> {
  const c = await RawConnection.connect(socketPath);
  toClose.push({ close: () => c.destroy() });
  return c;
}

function requestBody(service: string, method: string, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return ttrpcWire.Request.encode({ service, method, payload }).finish();
}

function statusOf(frame: Frame) {
  return ttrpcWire.Response.decode(frame.payload).status;
}

const echo: Handler = async (payload) => payload;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('TtrpcServer', () => {
  it('answers the recorded Connect and Kill requests with the recorded bytes', async () => {
    await startServer({
      [TASK]: {
        Connect: unary(task.ConnectRequest, task.ConnectResponse, async (req) => {
          expect(req.id).toBe('c1');
          return { shimPid: 2381, taskPid: 2400 };
        }),
        Kill: unary(task.KillRequest, wellKnown.Empty, async (req) => {
          expect(req).toMatchObject({ id: 'c3', signal: 9 });
          throw new TtrpcError(Code.NotFound, 'process already finished: not found');
        }),
      },
    });
    const conn = await raw();
    conn.write(hex(CONNECT_REQUEST));
    const connect = await conn.next();
    expect(encodeFrame(connect.streamId, connect.type, connect.payload).toString('hex')).toBe(
      CONNECT_RESPONSE,
    );
    conn.write(hex(KILL_REQUEST));
    const kill = await conn.next();
    expect(encodeFrame(kill.streamId, kill.type, kill.payload).toString('hex')).toBe(KILL_NOT_FOUND);
  });

  it('replies out of order: a pending handler does not hold up a later request', async () => {
    const release = deferred<Uint8Array>();
    let slowDone = false;
    await startServer({
      'test.Svc': {
        Slow: async () => {
          const result = await release.promise;
          slowDone = true;
          return result;
        },
        Fast: echo,
      },
    });
    const conn = await raw();
    conn.send(1, FrameType.Request, requestBody('test.Svc', 'Slow'));
    conn.send(3, FrameType.Request, requestBody('test.Svc', 'Fast', Buffer.from('fast')));
    const first = await conn.next();
    expect(first.streamId).toBe(3);
    expect(Buffer.from(ttrpcWire.Response.decode(first.payload).payload).toString()).toBe('fast');
    expect(slowDone).toBe(false);
    release.resolve(Buffer.from('slow'));
    const second = await conn.next();
    expect(second.streamId).toBe(1);
    expect(Buffer.from(ttrpcWire.Response.decode(second.payload).payload).toString()).toBe('slow');
  });

  it('the client matches replies that come out of order', async () => {
    const release = deferred<Uint8Array>();
    await startServer({ 'test.Svc': { Slow: () => release.promise, Fast: echo } });
    const c = await client();
    const slow = c.call('test.Svc', 'Slow', Buffer.from('a'));
    await expect(c.call('test.Svc', 'Fast', Buffer.from('b'))).resolves.toEqual(Buffer.from('b'));
    release.resolve(Buffer.from('a-done'));
    await expect(slow).resolves.toEqual(Buffer.from('a-done'));
  });

  it('answers an unknown service or method with Unimplemented and the exact message', async () => {
    await startServer({ 'test.Svc': { Echo: echo } });
    const c = await client();
    const noService = await rejection(c.call('nope.Svc', 'Echo', new Uint8Array(0)));
    expect(noService).toBeInstanceOf(TtrpcError);
    expect(noService).toMatchObject({ code: 12, message: 'service nope.Svc' });
    const noMethod = await rejection(c.call('test.Svc', 'Nope', new Uint8Array(0)));
    expect(noMethod).toMatchObject({ code: 12, message: 'method Nope' });
    // Inherited object properties are not methods.
    const proto = await rejection(c.call('test.Svc', 'toString', new Uint8Array(0)));
    expect(proto).toMatchObject({ code: 12, message: 'method toString' });
  });

  it('answers an even stream id with InvalidArgument and keeps serving', async () => {
    await startServer({ 'test.Svc': { Echo: echo } });
    const conn = await raw();
    conn.send(2, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('x')));
    const refused = await conn.next();
    expect(refused.streamId).toBe(2);
    expect(statusOf(refused)).toMatchObject({
      code: Code.InvalidArgument,
      message: 'StreamID must be odd for client initiated streams',
    });
    conn.send(5, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('y')));
    const ok = await conn.next();
    expect(ok.streamId).toBe(5);
    expect(statusOf(ok)).toBeFalsy();
  });

  it('ignores frames that are not requests', async () => {
    await startServer({ 'test.Svc': { Echo: echo } });
    const conn = await raw();
    conn.send(1, FrameType.Response, requestBody('test.Svc', 'Echo'));
    conn.send(3, 7, requestBody('test.Svc', 'Echo'));
    conn.send(5, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('z')));
    const reply = await conn.next();
    expect(reply.streamId).toBe(5);
  });

  it('maps a plain error to Unknown with its message, logs it, and keeps serving', async () => {
    await startServer({
      'test.Svc': {
        Async: async () => {
          throw new Error('disk on fire');
        },
        Sync: () => {
          throw new Error('thrown before any await');
        },
        NotAnError: () => Promise.reject('a bare string'),
        Echo: echo,
      },
    });
    const c = await client();
    await expect(rejection(c.call('test.Svc', 'Async', new Uint8Array(0)))).resolves.toMatchObject({
      code: Code.Unknown,
      message: 'disk on fire',
    });
    await expect(rejection(c.call('test.Svc', 'Sync', new Uint8Array(0)))).resolves.toMatchObject({
      code: Code.Unknown,
      message: 'thrown before any await',
    });
    await expect(rejection(c.call('test.Svc', 'NotAnError', new Uint8Array(0)))).resolves.toMatchObject({
      code: Code.Unknown,
      message: 'a bare string',
    });
    await expect(c.call('test.Svc', 'Echo', Buffer.from('still here'))).resolves.toEqual(
      Buffer.from('still here'),
    );
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'ttrpc test.Svc/Async: disk on fire',
      'ttrpc test.Svc/Sync: thrown before any await',
      'ttrpc test.Svc/NotAnError: a bare string',
    ]);
  });

  it('passes a TtrpcError code and message through unchanged', async () => {
    await startServer({
      'test.Svc': {
        Fail: async () => {
          throw new TtrpcError(Code.FailedPrecondition, 'container is paused');
        },
      },
    });
    const c = await client();
    const error = await rejection(c.call('test.Svc', 'Fail', new Uint8Array(0)));
    expect(error).toBeInstanceOf(TtrpcError);
    expect(error).toMatchObject({ code: 9, message: 'container is paused' });
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('gives handlers the metadata (keys lower-cased), the timeout and the connection id', async () => {
    const seen = deferred<{ timeoutNano: number; metadata: Map<string, string>; connectionId: number }>();
    await startServer({
      'test.Svc': {
        Look: async (payload, ctx) => {
          seen.resolve(ctx);
          return payload;
        },
      },
    });
    const c = await client();
    await c.call('test.Svc', 'Look', new Uint8Array(0), { timeoutMs: 1500, metadata: { 'X-Key': 'v1' } });
    const ctx = await seen.promise;
    expect(ctx.timeoutNano).toBe(1_500_000_000);
    expect([...ctx.metadata]).toEqual([['x-key', 'v1']]);
    expect(ctx.connectionId).toBeGreaterThan(0);
  });

  it('unary answers an undecodable payload with Internal', async () => {
    await startServer({
      [TASK]: {
        Connect: unary(task.ConnectRequest, task.ConnectResponse, async () => ({ shimPid: 1 })),
      },
    });
    const c = await client();
    const error = await rejection(c.call(TASK, 'Connect', Buffer.from([0x0a, 0x05, 0x61])));
    expect(error).toMatchObject({ code: Code.Internal });
    expect((error as Error).message).toMatch(/^error unmarshalling payload: /);
  });

  describe('a bad connection is closed on its own', () => {
    async function serveWithBystander() {
      const closedIds: number[] = [];
      await startServer({ 'test.Svc': { Echo: echo } });
      server.onConnectionClosed((id) => closedIds.push(id));
      const bystander = await client();
      await expect(bystander.call('test.Svc', 'Echo', Buffer.from('1'))).resolves.toEqual(Buffer.from('1'));
      const bad = await raw();
      // A request on it first: the server knows it, and it works until it misbehaves.
      bad.send(1, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('ok')));
      expect(statusOf(await bad.next())).toBeFalsy();
      expect(server.connectionCount).toBe(2);
      return { bystander, bad, closedIds };
    }

    async function bystanderStillServed(bystander: TtrpcClient, closedIds: number[]) {
      expect(closedIds).toHaveLength(1);
      expect(server.connectionCount).toBe(1);
      expect(bystander.closed).toBe(false);
      await expect(bystander.call('test.Svc', 'Echo', Buffer.from('2'))).resolves.toEqual(Buffer.from('2'));
    }

    it('garbage that is not a Request: answered with InvalidArgument, then closed', async () => {
      const { bystander, bad, closedIds } = await serveWithBystander();
      const gone = new Promise<void>((resolve) => server.onConnectionClosed(() => resolve()));
      bad.send(3, FrameType.Request, Buffer.from('ffffffffff', 'hex'));
      const answer = await bad.next();
      expect(answer.streamId).toBe(3);
      expect(statusOf(answer)?.code).toBe(Code.InvalidArgument);
      expect(statusOf(answer)?.message).toMatch(/^unmarshal request error: /);
      await bad.closed;
      await gone;
      await bystanderStillServed(bystander, closedIds);
    });

    it('a truncated frame followed by a close', async () => {
      const { bystander, bad, closedIds } = await serveWithBystander();
      const gone = new Promise<void>((resolve) => server.onConnectionClosed(() => resolve()));
      const frame = encodeFrame(3, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('never')));
      bad.socket.end(frame.subarray(0, frame.length - 3));
      await gone;
      await bad.closed;
      await bystanderStillServed(bystander, closedIds);
      expect(logger.lines.some((l) => /closed in the middle of a frame/.test(l.msg))).toBe(true);
    });

    it('an oversized length: answered with ResourceExhausted, then closed', async () => {
      const { bystander, bad, closedIds } = await serveWithBystander();
      const gone = new Promise<void>((resolve) => server.onConnectionClosed(() => resolve()));
      const header = Buffer.alloc(HEADER_LENGTH);
      header.writeUInt32BE(MAX_MESSAGE + 1, 0);
      header.writeUInt32BE(5, 4);
      header[8] = FrameType.Request;
      bad.write(Buffer.concat([header, Buffer.alloc(1000, 0x41)]));
      const answer = await bad.next();
      expect(answer.streamId).toBe(5);
      expect(statusOf(answer)).toMatchObject({
        code: Code.ResourceExhausted,
        message: 'message length 4194305 exceed maximum message size of 4194304',
      });
      await bad.closed;
      await gone;
      await bystanderStillServed(bystander, closedIds);
    });
  });

  it('drops the reply of a handler whose client has gone, without crashing', async () => {
    const release = deferred<Uint8Array>();
    const finished = deferred();
    await startServer({
      'test.Svc': {
        Slow: async () => {
          const result = await release.promise;
          finished.resolve();
          return result;
        },
        Echo: echo,
      },
    });
    const gone = new Promise<number>((resolve) => server.onConnectionClosed(resolve));
    const conn = await raw();
    conn.send(1, FrameType.Request, requestBody('test.Svc', 'Slow'));
    conn.send(3, FrameType.Request, requestBody('test.Svc', 'Echo'));
    await conn.next(); // the Slow request has reached its handler by now
    conn.destroy();
    await gone;
    release.resolve(Buffer.from('late'));
    await finished.promise;
    // Past the handler's return: the reply has been dropped (or written into a dead socket).
    await new Promise((resolve) => setImmediate(resolve));
    const c = await client();
    await expect(c.call('test.Svc', 'Echo', Buffer.from('next'))).resolves.toEqual(Buffer.from('next'));
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('survives a peer that resets the connection (closes with replies unread)', async () => {
    const returned = deferred();
    await startServer({
      'test.Svc': {
        Echo: async (payload) => {
          returned.resolve();
          return payload;
        },
      },
    });
    const gone = new Promise<number>((resolve) => server.onConnectionClosed(resolve));
    // A peer that never reads: with reading stopped, the reply stays in its kernel queue, and
    // closing a unix socket with unread data makes the kernel report ECONNRESET to the server.
    const peer = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ path: socketPath, onread: { buffer: Buffer.alloc(64), callback: () => true } });
      s.once('error', reject);
      s.once('connect', () => {
        s.pause();
        resolve(s);
      });
    });
    peer.write(encodeFrame(1, FrameType.Request, requestBody('test.Svc', 'Echo', Buffer.from('unread'))));
    await returned.promise;
    // Past every microtask of the reply: it has been written.
    await new Promise((resolve) => setImmediate(resolve));
    peer.destroy();
    await gone;
    expect(logger.lines.some((l) => l.level === 'debug' && /ECONNRESET|EPIPE/.test(l.msg))).toBe(true);
    const c = await client();
    await expect(c.call('test.Svc', 'Echo', Buffer.from('next'))).resolves.toEqual(Buffer.from('next'));
  });

  it('close() closes every connection and fails their pending calls with ClosedError', async () => {
    await startServer({ 'test.Svc': { Hang: () => new Promise<Uint8Array>(() => {}), Echo: echo } });
    const c = await client();
    const closedByServer = new Promise<void>((resolve) => c.onClose(resolve));
    await c.call('test.Svc', 'Echo', new Uint8Array(0));
    const pending = c.call('test.Svc', 'Hang', new Uint8Array(0));
    await server.close();
    expect(server.connectionCount).toBe(0);
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    await closedByServer;
    expect(c.closed).toBe(true);
    await expect(c.call('test.Svc', 'Echo', new Uint8Array(0))).rejects.toBeInstanceOf(ClosedError);
    await expect(TtrpcClient.connect(socketPath)).rejects.toThrow(/^dial /);
  });
});

describe('TtrpcClient', () => {
  // A server written by hand: records the requests and answers as each test says.
  async function rawServer(answer: (frame: Frame, socket: net.Socket) => void) {
    const frames: Frame[] = [];
    const sockets: net.Socket[] = [];
    const srv = net.createServer((socket) => {
      sockets.push(socket);
      const reader = new FrameReader();
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        for (const frame of reader.push(chunk)) {
          frames.push(frame);
          answer(frame, socket);
        }
      });
    });
    socketPath = dir.socket('raw.sock');
    await listen(srv, socketPath);
    toClose.push({
      close: () => {
        for (const s of sockets) s.destroy();
        srv.close();
      },
    });
    return { frames, sockets };
  }

  const reply = (socket: net.Socket, streamId: number, response: object) =>
    socket.write(encodeFrame(streamId, FrameType.Response, ttrpcWire.Response.encode(response).finish()));

  it('uses odd stream ids from 1, sets timeout and metadata, and accepts a status of 0', async () => {
    const { frames } = await rawServer((frame, socket) => {
      const req = ttrpcWire.Request.decode(frame.payload);
      reply(socket, frame.streamId, { status: { code: 0 }, payload: req.payload });
    });
    const c = await TtrpcClient.connect(`unix://${socketPath}`);
    toClose.push(c);
    for (const word of ['a', 'b', 'c']) {
      await expect(
        c.call('s.S', 'M', Buffer.from(word), { timeoutMs: 2000, metadata: { k: word } }),
      ).resolves.toEqual(Buffer.from(word));
    }
    expect(frames.map((f) => [f.streamId, f.type])).toEqual([
      [1, 1],
      [3, 1],
      [5, 1],
    ]);
    const last = ttrpcWire.Request.decode(frames[2].payload);
    expect(last).toMatchObject({ service: 's.S', method: 'M', timeoutNano: 2_000_000_000 });
    expect(last.metadata).toEqual([{ key: 'k', value: 'c' }]);
    const plain = await c.call('s.S', 'M', Buffer.from('d'));
    expect(plain).toEqual(Buffer.from('d'));
    expect(ttrpcWire.Request.decode(frames[3].payload).timeoutNano).toBe(0);
  });

  it('rejects with the status of an error reply', async () => {
    await rawServer((frame, socket) =>
      reply(socket, frame.streamId, { status: { code: 5, message: 'gone: not found' } }),
    );
    const c = await client();
    const error = await rejection(c.call('s.S', 'M', new Uint8Array(0)));
    expect(error).toBeInstanceOf(TtrpcError);
    expect(error).toMatchObject({ code: 5, message: 'gone: not found' });
  });

  it('times out with DeadlineExceeded and ignores the late reply', async () => {
    const late: Array<() => void> = [];
    await rawServer((frame, socket) =>
      late.push(() => reply(socket, frame.streamId, { payload: Buffer.from('late') })),
    );
    const c = await client();
    const error = await rejection(c.call('s.S', 'M', new Uint8Array(0), { timeoutMs: 20 }));
    expect(error).toMatchObject({ code: Code.DeadlineExceeded });
    for (const send of late) send();
    // The connection still works after the stray reply.
    late.length = 0;
    const next = c.call('s.S', 'M', new Uint8Array(0));
    await new Promise<void>((resolve) => {
      const poll = () => (late.length > 0 ? resolve() : setImmediate(poll));
      poll();
    });
    late[0]();
    await expect(next).resolves.toEqual(Buffer.from('late'));
  });

  it('fails pending calls with ClosedError when the server closes the connection', async () => {
    const { sockets } = await rawServer(() => {});
    const c = await client();
    const closed = new Promise<void>((resolve) => c.onClose(resolve));
    const a = c.call('s.S', 'A', new Uint8Array(0));
    const b = c.call('s.S', 'B', new Uint8Array(0), { timeoutMs: 60_000 });
    while (sockets.length === 0) await new Promise((resolve) => setImmediate(resolve));
    sockets[0].destroy();
    await expect(a).rejects.toBeInstanceOf(ClosedError);
    await expect(b).rejects.toBeInstanceOf(ClosedError);
    await closed;
    expect(c.closed).toBe(true);
    const late = deferred();
    c.onClose(() => late.resolve());
    await late.promise;
  });

  it('close() fails pending calls and later ones', async () => {
    await rawServer(() => {});
    const c = await client();
    const pending = c.call('s.S', 'A', new Uint8Array(0));
    c.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    await expect(c.call('s.S', 'A', new Uint8Array(0))).rejects.toBeInstanceOf(ClosedError);
  });

  it('fails to connect to a path nobody listens on', async () => {
    await expect(TtrpcClient.connect(dir.socket('nobody.sock'))).rejects.toThrow(
      /^dial .*nobody\.sock: .*ENOENT/,
    );
  });
});
