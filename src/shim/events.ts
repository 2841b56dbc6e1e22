// Publishes task events to containerd the way the Go shim does: ttrpc
// containerd.services.events.ttrpc.v1.Events/Forward on $TTRPC_ADDRESS, one event at a time in
// publish order, over one lazily opened connection that is reopened when it drops. A failed event
// is retried after 1 s x attempt and dropped after 5 attempts; later events wait behind it, since
// containerd's consumers rely on the order (create before start before exit before delete).
import type { Logger } from '../util/log';
import { forward, timestampOf } from './proto';
import { ClosedError, TtrpcClient } from './ttrpc/client';
import { messageOf } from './ttrpc/server';

export const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';
export const NAMESPACE_METADATA = 'containerd-namespace-ttrpc';

const FORWARD_TIMEOUT_MS = 5000;
const DIAL_TIMEOUT_MS = 5000;
const MAX_ATTEMPTS = 5;
const DEFAULT_RETRY_DELAY_MS = 1000;
const DEFAULT_MAX_QUEUE = 2048;

export interface PublisherOptions {
  /** $TTRPC_ADDRESS, maybe with unix:// */
  address: string;
  namespace: string;
  logger: Logger;
  now?: () => Date;
  /** The retry delay unit: attempt n waits n times this (default 1 s). */
  retryDelayMs?: number;
  /** Events waiting beyond this many drop the oldest (default 2048, the Go shim's queue). */
  maxQueue?: number;
}

interface QueuedEvent {
  topic: string;
  typeUrl: string;
  value: Uint8Array;
  timestamp: { seconds: number; nanos: number };
}

export class EventPublisher {
  private readonly address: string;
  private readonly namespace: string;
  private readonly logger: Logger;
  private readonly now: () => Date;
  private readonly retryDelayMs: number;
  private readonly maxQueue: number;
  private readonly queue: QueuedEvent[] = [];
  private sending = false;
  private client: TtrpcClient | undefined;
  private isClosed = false;
  private readonly idleWaiters = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;

  constructor(opts: PublisherOptions) {
    this.address = opts.address;
    this.namespace = opts.namespace;
    this.logger = opts.logger;
    this.now = opts.now ?? (() => new Date());
    this.retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
  }

  /** Queue an event; never blocks or throws; events go out one at a time in publish order. */
  publish(topic: string, typeUrl: string, value: Uint8Array): void {
    try {
      if (this.isClosed) {
        this.logger.warn(`event ${topic} dropped: publisher closed`);
        return;
      }
      // Stamped now, not when sent: containerd refuses an event without a timestamp, and a
      // retried event keeps the time it happened.
      this.queue.push({ topic, typeUrl, value, timestamp: timestampOf(this.now()) });
      if (this.queue.length > this.maxQueue) {
        // The oldest waiting one, not the one in flight.
        const [dropped] = this.queue.splice(this.sending ? 1 : 0, 1);
        this.logger.error(`event ${dropped.topic} dropped: more than ${this.maxQueue} events queued`);
      }
      if (!this.sending) void this.drain();
    } catch (error) {
      this.logger.error(`event ${topic} dropped: ${messageOf(error)}`);
    }
  }

  /** Resolve when the queue is empty or after timeoutMs. */
  flush(timeoutMs: number): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // This timer is what keeps the process alive while the flush lasts (everything else is unref'd).
      const timer = setTimeout(done, timeoutMs);
      const waiters = this.idleWaiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.queue.length > 0) this.logger.warn(`${this.queue.length} events dropped: publisher closed`);
    this.queue.length = 0;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    this.client?.close();
    this.client = undefined;
    this.notifyIdle();
  }

  private idle(): boolean {
    return this.queue.length === 0 && !this.sending;
  }

  // The single sender: takes the oldest event, keeps trying it until it is delivered or given
  // up, then moves on.
  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (!this.isClosed && this.queue.length > 0) {
        const event = this.queue[0];
        for (let attempt = 1; ; attempt++) {
          try {
            await this.forward(event);
            break;
          } catch (error) {
            if (this.isClosed) return;
            if (attempt >= MAX_ATTEMPTS) {
              this.logger.error(
                `event ${event.topic} dropped after ${attempt} attempts to forward it: ${messageOf(error)}`,
              );
              break;
            }
            this.logger.warn(`event ${event.topic}: forward attempt ${attempt} failed: ${messageOf(error)}`);
            await this.sleep(this.retryDelayMs * attempt);
            if (this.isClosed) return;
          }
        }
        this.queue.shift();
      }
    } finally {
      this.sending = false;
      this.notifyIdle();
    }
  }

  private async forward(event: QueuedEvent): Promise<void> {
    const client = await this.connected();
    const request = forward.ForwardRequest.encode({
      envelope: {
        timestamp: event.timestamp,
        namespace: this.namespace,
        topic: event.topic,
        event: { type_url: event.typeUrl, value: event.value },
      },
    }).finish();
    try {
      await client.call(EVENTS_SERVICE, 'Forward', request, {
        timeoutMs: FORWARD_TIMEOUT_MS,
        metadata: { [NAMESPACE_METADATA]: this.namespace },
      });
    } catch (error) {
      // A dropped connection (containerd restarted) is reopened on the next attempt.
      if (error instanceof ClosedError && this.client === client) this.client = undefined;
      throw error;
    }
  }

  private async connected(): Promise<TtrpcClient> {
    if (this.client && !this.client.closed) return this.client;
    this.client = undefined;
    const client = await TtrpcClient.connect(this.address, { timeoutMs: DIAL_TIMEOUT_MS, unref: true });
    if (this.isClosed) {
      client.close();
      throw new ClosedError('publisher closed');
    }
    this.client = client;
    return client;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeRetry = () => {
        this.wakeRetry = undefined;
        resolve();
      };
      this.retryTimer = setTimeout(() => this.wakeRetry?.(), ms);
      this.retryTimer.unref();
    });
  }

  private notifyIdle(): void {
    if (!this.idle() && !this.isClosed) return;
    for (const done of [...this.idleWaiters]) done();
  }
}
