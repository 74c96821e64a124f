/**
 * The bus between nodes: Redis pub/sub, one channel per conversation, subscribed only while this node has members
 * in it. Payloads are msgpack with the ciphertext as bytes: Redis never sees message text.
 *
 * Sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7) is selectable for Redis Cluster, where classic pub/sub would
 * broadcast every message to every shard.
 *
 * Nothing here is reliable, on purpose: a message published while Redis is down, or while this node is reconnecting,
 * is lost to the bus. When the subscriber connection comes back, `onResync` listeners are told, and every local
 * subscription fills its gap from the store.
 */
import { Packr } from 'msgpackr';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Bus, BusEvent, BusHandler } from './bus.js';

const packr = new Packr({ useRecords: false, moreTypes: false, structuredClone: false, mapsAsObjects: true });

export interface RedisBusOptions {
  readonly url: string;
  /** Use sharded pub/sub (SPUBLISH/SSUBSCRIBE). Default false. */
  readonly sharded?: boolean;
  /** Channel prefix, so several deployments can share one Redis. Default `tc`. */
  readonly prefix?: string;
  /** Longest `subscribe` waits for Redis before the join goes ahead without the fast path. Default 2,000 ms. */
  readonly subscribeTimeoutMs?: number;
  readonly log: Logger;
  readonly onPublishError?: () => void;
}

export class RedisBus implements Bus {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, Set<BusHandler>>();
  private readonly resyncListeners: (() => void)[] = [];
  private readonly prefix: string;
  private readonly sharded: boolean;
  private subReady = false;
  private pubReady = false;
  private everReady = false;
  /** Conversations whose messages could not be published, with the highest seq lost: announced when Redis is back. */
  private readonly unpublished = new Map<string, number>();

  constructor(private readonly options: RedisBusOptions) {
    this.prefix = `${options.prefix ?? 'tc'}:conv:`;
    this.sharded = options.sharded ?? false;
    const common = {
      maxRetriesPerRequest: 1,
      retryStrategy: (n: number) => Math.min(50 * 2 ** n, 2000),
      lazyConnect: false,
    };
    // Publishing while disconnected fails at once (receivers recover from the store) instead of queueing without bound.
    this.pub = new Redis(options.url, { ...common, enableOfflineQueue: false, connectionName: 'therapy-chat-pub' });
    this.sub = new Redis(options.url, { ...common, autoResubscribe: true, connectionName: 'therapy-chat-sub' });
    const log = options.log;
    this.pub.on('ready', () => {
      this.pubReady = true;
      // Tell the other nodes how far these conversations got; their members fetch the rest from the store. Twice,
      // because other nodes' subscribers may still be reconnecting to the same Redis.
      const heads = [...this.unpublished];
      this.unpublished.clear();
      for (const delay of [250, 2000]) {
        setTimeout(() => {
          for (const [conv, seq] of heads) this.publish(conv, { kind: 'head', conv, seq });
        }, delay).unref();
      }
    });
    this.pub.on('close', () => (this.pubReady = false));
    this.pub.on('error', (err: Error) => log.warn({ err: err.message }, 'redis publisher error'));
    this.sub.on('error', (err: Error) => log.warn({ err: err.message }, 'redis subscriber error'));
    this.sub.on('close', () => {
      if (this.subReady) log.warn('redis subscriber disconnected; messages wait in the store until it is back');
      this.subReady = false;
    });
    this.sub.on('ready', () => {
      this.subReady = true;
      if (this.everReady) {
        log.info('redis subscriber reconnected; filling gaps from the store');
        // ioredis resubscribes on its own; what was published meanwhile is recovered from the store.
        for (const listener of this.resyncListeners) listener();
      }
      this.everReady = true;
    });
    const onMessage = (channel: Buffer, message: Buffer) => this.dispatch(channel, message);
    this.sub.on(this.sharded ? 'smessageBuffer' : 'messageBuffer', onMessage);
  }

  get healthy(): boolean {
    return this.subReady && this.pubReady;
  }

  onResync(listener: () => void): void {
    this.resyncListeners.push(listener);
  }

  private channel(conv: string): string {
    return this.prefix + conv;
  }

  private dispatch(channel: Buffer, message: Buffer): void {
    const conv = channel.toString('utf8').slice(this.prefix.length);
    const set = this.handlers.get(conv);
    if (!set) return;
    let event: BusEvent;
    try {
      event = packr.unpack(message) as BusEvent;
      if (event.kind === 'message')
        event = { kind: 'message', message: { ...event.message, ciphertext: Buffer.from(event.message.ciphertext) } };
    } catch (err) {
      this.options.log.warn({ err, conv }, 'undecodable bus message dropped');
      return;
    }
    for (const handler of set) handler(conv, event);
  }

  publish(conv: string, event: BusEvent): void {
    const payload = packr.pack(event);
    const channel = this.channel(conv);
    const sent = this.sharded ? this.pub.spublish(channel, payload) : this.pub.publish(channel, payload);
    sent.catch((err: unknown) => {
      this.options.onPublishError?.();
      const seq = event.kind === 'message' ? event.message.seq : event.kind === 'head' ? event.seq : 0;
      if (seq > (this.unpublished.get(conv) ?? 0)) this.unpublished.set(conv, seq);
      this.options.log.debug(
        { err: (err as Error).message, conv },
        'publish failed; receivers will find it in the store',
      );
    });
  }

  async subscribe(conv: string, handler: BusHandler): Promise<void> {
    const existing = this.handlers.get(conv);
    if (existing) {
      existing.add(handler);
      return;
    }
    this.handlers.set(conv, new Set([handler]));
    const channel = this.channel(conv);
    const done = this.sharded ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.subscribeTimeoutMs ?? 2000);
    });
    try {
      if ((await Promise.race([done, timeout])) === 'timeout') {
        this.options.log.warn({ conv }, 'redis subscribe is slow; going ahead, the store fills any gap');
      }
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message, conv }, 'redis subscribe failed; the store fills any gap');
    } finally {
      clearTimeout(timer);
    }
  }

  async unsubscribe(conv: string, handler: BusHandler): Promise<void> {
    const set = this.handlers.get(conv);
    if (!set || !set.delete(handler) || set.size > 0) return;
    this.handlers.delete(conv);
    const channel = this.channel(conv);
    await (this.sharded ? this.sub.sunsubscribe(channel) : this.sub.unsubscribe(channel));
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.pub.disconnect();
    this.sub.disconnect();
  }

  /** Resolves once both connections are ready (for startup and tests). */
  async ready(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.healthy) {
      if (Date.now() > until) throw new Error(`Redis at ${redact(this.options.url)} is not reachable`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** A Redis URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured URL';
  }
}
