// The shim's event publisher against a fake containerd Events service (a TtrpcServer that
// registers Forward on a unix socket): order, envelope, metadata, retries, reconnects.
import * as net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventPublisher, type PublisherOptions } from '../../src/shim/events';
import { forward, wellKnown } from '../../src/shim/proto';
import { Code, TtrpcError, TtrpcServer, unary, type RequestContext } from '../../src/shim/ttrpc/server';
import { deferred, listen, recordingLogger, tempSocketDir, type RecordingLogger } from '../helpers/ttrpc';

interface Received {
  topic: string;
  typeUrl: string;
  value: string;
  timestamp: { seconds: number; nanos: number } | null | undefined;
  namespace: string;
  metadata: Map<string, string>;
  timeoutNano: number;
  connectionId: number;
}

/** A fake containerd: records every Forward it is sent; `answer` decides each reply. */
class FakeEvents {
  readonly received: Received[] = [];
  readonly server: TtrpcServer;
  readonly listener = net.createServer();
  readonly sockets = new Set<net.Socket>();
  answer: (event: Received, nth: number) => Promise<void> = async () => {};
  private waiters: Array<{ count: number; resolve(): void }> = [];

  constructor(logger: RecordingLogger) {
    this.server = new TtrpcServer({ logger });
    this.server.register('containerd.services.events.ttrpc.v1.Events', {
      Forward: unary(forward.ForwardRequest, wellKnown.Empty, async (req, ctx: RequestContext) => {
        const env = req.envelope!;
        const event: Received = {
          topic: env.topic ?? '',
          typeUrl: env.event?.type_url ?? '',
          value: Buffer.from(env.event?.value ?? []).toString(),
          timestamp: env.timestamp as Received['timestamp'],
          namespace: env.namespace ?? '',
          metadata: ctx.metadata,
          timeoutNano: ctx.timeoutNano,
          connectionId: ctx.connectionId,
        };
        this.received.push(event);
        for (const w of [...this.waiters]) {
          if (this.received.length >= w.count) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
        await this.answer(event, this.received.length);
        return {};
      }),
    });
    this.listener.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.serve(this.listener);
  }

  /** Resolves once `count` Forward calls have arrived (answered or not). */
  receivedCount(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  topics(): string[] {
    return this.received.map((r) => r.topic);
  }
}

let dir: ReturnType<typeof tempSocketDir>;
let logger: RecordingLogger;
let address: string;
const fakes: FakeEvents[] = [];
const publishers: EventPublisher[] = [];

beforeEach(() => {
  dir = tempSocketDir();
  logger = recordingLogger();
  address = dir.socket('containerd.sock.ttrpc');
});

afterEach(async () => {
  for (const p of publishers.splice(0)) p.close();
  for (const f of fakes.splice(0)) await f.server.close();
  dir.cleanup();
});

async function fakeContainerd(): Promise<FakeEvents> {
  const fake = new FakeEvents(logger);
  fakes.push(fake);
  await listen(fake.listener, address);
  return fake;
}

function publisher(opts: Partial<PublisherOptions> = {}): EventPublisher {
  const p = new EventPublisher({ address: `unix://${address}`, namespace: 'ns1', logger, ...opts });
  publishers.push(p);
  return p;
}

const body = (text: string): Uint8Array => Buffer.from(text);

describe('EventPublisher', () => {
  it('forwards events in publish order with the envelope, timestamp, namespace metadata and 5 s timeout', async () => {
    const fake = await fakeContainerd();
    const times = [new Date('2026-12-02T03:32:50.291Z'), new Date('2026-12-02T03:32:50.337Z')];
    let call = 0;
    const p = publisher({ now: () => times[Math.min(call++, times.length - 1)] });
    p.publish('/tasks/create', 'containerd.events.TaskCreate', body('one'));
    p.publish('/tasks/start', 'containerd.events.TaskStart', body('two'));
    for (let i = 0; i < 20; i++) p.publish(`/tasks/n${i}`, 'containerd.events.TaskExit', body(`${i}`));
    await fake.receivedCount(22);
    expect(fake.topics()).toEqual([
      '/tasks/create',
      '/tasks/start',
      ...Array.from({ length: 20 }, (_, i) => `/tasks/n${i}`),
    ]);
    const [first, second] = fake.received;
    expect(first).toMatchObject({
      typeUrl: 'containerd.events.TaskCreate',
      value: 'one',
      namespace: 'ns1',
      timeoutNano: 5_000_000_000,
      timestamp: { seconds: 1796182370, nanos: 291_000_000 },
    });
    // Stamped when published, not when sent.
    expect(second.timestamp).toEqual({ seconds: 1796182370, nanos: 337_000_000 });
    for (const r of fake.received) {
      expect(r.metadata.get('containerd-namespace-ttrpc')).toBe('ns1');
      expect(r.connectionId).toBe(first.connectionId);
    }
    await p.flush(10_000);
  });

  it('stamps every event with the current time by default', async () => {
    const fake = await fakeContainerd();
    const before = Math.floor(Date.now() / 1000);
    const p = publisher();
    p.publish('/tasks/oom', 'containerd.events.TaskOOM', body('x'));
    await fake.receivedCount(1);
    const ts = fake.received[0].timestamp;
    expect(ts?.seconds).toBeGreaterThanOrEqual(before);
  });

  it('sends one event at a time: the next waits for the answer to the previous', async () => {
    const fake = await fakeContainerd();
    const release = deferred();
    fake.answer = (_event, nth) => (nth === 1 ? release.promise : Promise.resolve());
    const p = publisher();
    p.publish('/a', 't', body('a'));
    p.publish('/b', 't', body('b'));
    await fake.receivedCount(1);
    // Give the publisher every chance to send /b early: flush until it would time out.
    await p.flush(50);
    expect(fake.topics()).toEqual(['/a']);
    release.resolve();
    await fake.receivedCount(2);
    expect(fake.topics()).toEqual(['/a', '/b']);
  });

  it('retries an event the server refused, before the events published after it', async () => {
    const fake = await fakeContainerd();
    fake.answer = async (event, nth) => {
      if (nth === 1) throw new TtrpcError(Code.Unavailable, 'exchange is busy');
      expect(event.topic).not.toBe('');
    };
    const p = publisher({ retryDelayMs: 10 });
    p.publish('/first', 't', body('1'));
    p.publish('/second', 't', body('2'));
    p.publish('/third', 't', body('3'));
    await fake.receivedCount(4);
    await p.flush(10_000);
    expect(fake.topics()).toEqual(['/first', '/first', '/second', '/third']);
    // The retry is the same event: same timestamp, not re-stamped.
    expect(fake.received[1].timestamp).toEqual(fake.received[0].timestamp);
    await expect(
      logger.waitFor('warn', /event \/first: forward attempt 1 failed: exchange is busy/),
    ).resolves.toBeTruthy();
  });

  it('gives an event up after 5 attempts, logs it, and goes on with the next', async () => {
    const fake = await fakeContainerd();
    fake.answer = async (event) => {
      if (event.topic === '/bad') throw new TtrpcError(Code.InvalidArgument, 'bad topic');
    };
    const p = publisher({ retryDelayMs: 1 });
    p.publish('/bad', 't', body('x'));
    p.publish('/good', 't', body('y'));
    await fake.receivedCount(6);
    await p.flush(10_000);
    expect(fake.topics()).toEqual(['/bad', '/bad', '/bad', '/bad', '/bad', '/good']);
    const dropped = logger.lines.filter((l) => l.level === 'error');
    expect(dropped.map((l) => l.msg)).toEqual([
      'event /bad dropped after 5 attempts to forward it: bad topic',
    ]);
  });

  it('reconnects after the server side closes the connection', async () => {
    const fake = await fakeContainerd();
    const p = publisher({ retryDelayMs: 10 });
    p.publish('/before', 't', body('1'));
    await fake.receivedCount(1);
    await p.flush(10_000);
    const gone = new Promise<void>((resolve) => fake.server.onConnectionClosed(() => resolve()));
    for (const socket of fake.sockets) socket.destroy();
    await gone;
    p.publish('/after', 't', body('2'));
    await fake.receivedCount(2);
    expect(fake.topics()).toEqual(['/before', '/after']);
    expect(fake.received[1].connectionId).not.toBe(fake.received[0].connectionId);
  });

  it('resends the event in flight to a restarted containerd (a new listener on the same path)', async () => {
    const first = await fakeContainerd();
    // The first containerd never answers: its restart loses the reply.
    first.answer = () => new Promise<void>(() => {});
    const p = publisher({ retryDelayMs: 50 });
    p.publish('/one', 't', body('1'));
    p.publish('/two', 't', body('2'));
    await first.receivedCount(1);
    await first.server.close();
    fakes.splice(fakes.indexOf(first), 1);
    const second = await fakeContainerd();
    await second.receivedCount(2);
    expect(first.topics()).toEqual(['/one']);
    expect(second.topics()).toEqual(['/one', '/two']);
  });

  it('delivers events published before the server listens, once it does', async () => {
    const p = publisher({ retryDelayMs: 100 });
    p.publish('/early-1', 't', body('1'));
    p.publish('/early-2', 't', body('2'));
    await logger.waitFor('warn', /event \/early-1: forward attempt 1 failed: dial .*ENOENT/);
    const fake = await fakeContainerd();
    await fake.receivedCount(2);
    expect(fake.topics()).toEqual(['/early-1', '/early-2']);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('drops the oldest waiting event beyond the queue bound, never the one in flight', async () => {
    const fake = await fakeContainerd();
    const release = deferred();
    fake.answer = (_event, nth) => (nth === 1 ? release.promise : Promise.resolve());
    const p = publisher({ maxQueue: 3 });
    p.publish('/e1', 't', body('1'));
    await fake.receivedCount(1);
    for (const n of [2, 3, 4, 5]) p.publish(`/e${n}`, 't', body(`${n}`));
    release.resolve();
    await fake.receivedCount(3);
    await p.flush(10_000);
    expect(fake.topics()).toEqual(['/e1', '/e4', '/e5']);
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      'event /e2 dropped: more than 3 events queued',
      'event /e3 dropped: more than 3 events queued',
    ]);
  });

  it('flush resolves at its timeout when nothing can be delivered; close drops the rest', async () => {
    const p = publisher({ retryDelayMs: 1000 });
    p.publish('/lost', 't', body('1'));
    await p.flush(20);
    p.close();
    expect(
      logger.lines.some((l) => l.level === 'warn' && l.msg === '1 events dropped: publisher closed'),
    ).toBe(true);
    // Publishing after close neither throws nor sends.
    expect(() => p.publish('/later', 't', body('2'))).not.toThrow();
    await p.flush(10_000);
    expect(logger.lines.some((l) => l.msg === 'event /later dropped: publisher closed')).toBe(true);
  });

  it('flush resolves at once when nothing is queued', async () => {
    const p = publisher();
    await expect(p.flush(10_000)).resolves.toBeUndefined();
  });
});
