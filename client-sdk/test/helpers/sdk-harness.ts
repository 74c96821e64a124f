/**
 * Test helpers for the SDK against a real server: cutting connections from the server side, a TCP proxy that can
 * black-hole or refuse traffic (a phone losing signal), and small waiting and recording utilities.
 */
import net from 'node:net';
import type { ChatMessage } from '@therapy-chat/protocol';
import type { TestServer } from '../../../server/test/helpers/harness.js';
import {
  createClient,
  type ChatClient,
  type ClientOptions,
  type Conversation,
  type StateEvent,
} from '../../src/index.js';

export { mintToken, seedOffline, spawnServer, startServer, tempDataDir } from '../../../server/test/helpers/harness.js';
export type { Session, TestServer } from '../../../server/test/helpers/harness.js';

interface ServerSideConnection {
  readonly transport: { terminate(): void };
}

/** Drops every connection of an in-process server at once, without a close frame (like a dead NAT or a crash). */
export function cutAllConnections(ts: TestServer): number {
  const connections = (ts.server.chat as unknown as { connections: Map<string, ServerSideConnection> }).connections;
  const all = [...connections.values()];
  for (const c of all) c.transport.terminate();
  return all.length;
}

export function serverConnectionCount(ts: TestServer): number {
  return ts.server.chat.connectionCount;
}

export async function waitUntil(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A client with fast reconnects for tests, recording its state changes; closed by `closeAll`. */
export class Clients {
  private readonly all: ChatClient[] = [];

  create(options: ClientOptions): ChatClient & { states: StateEvent[] } {
    const client = createClient({ backoff: { minDelayMs: 10, maxDelayMs: 200 }, ...options }) as ChatClient & {
      states: StateEvent[];
    };
    client.states = [];
    client.on('state', (e) => client.states.push(e));
    this.all.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.all.splice(0).map((c) => c.close()));
  }
}

/** Everything a conversation delivered to the app, in order. */
export function record(conversation: Conversation): ChatMessage[] {
  const seen: ChatMessage[] = [];
  conversation.on('message', (e) => seen.push(e.message));
  return seen;
}

/**
 * A TCP proxy in front of the server. `blackhole()` keeps the current sockets open but stops forwarding on them (a
 * phone whose path died: no close, only silence), while new connections work; `refuse()` drops the current sockets and
 * every new one as it comes (no network at all); `restore()` accepts again; `cut()` destroys the current sockets.
 */
interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  dead: boolean;
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private mode: 'forward' | 'refuse' = 'forward';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetUrl: string): Promise<TcpProxy> {
    const u = new URL(targetUrl);
    const proxy = new TcpProxy({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as net.AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  private accept(client: net.Socket): void {
    if (this.mode === 'refuse') return void client.destroy();
    const upstream = net.connect(this.target.port, this.target.host);
    const pair: Pair = { client, upstream, dead: false };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (!pair.dead) to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  blackhole(): void {
    for (const pair of this.pairs) pair.dead = true;
  }

  refuse(): void {
    this.mode = 'refuse';
    this.cut();
  }

  restore(): void {
    this.mode = 'forward';
  }

  cut(): void {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
