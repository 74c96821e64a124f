/**
 * A small round-robin TCP proxy: what `npm run cluster` puts in front of its nodes so clients see one URL, and what
 * the fault tests put between a node and PostgreSQL to cut it off. It knows nothing of HTTP or WebSocket: each
 * client connection is piped to the next backend that accepts a connection. No sticky sessions, like a plain load
 * balancer: a client that reconnects may land on any node.
 */
import net from 'node:net';

export interface Backend {
  readonly host: string;
  readonly port: number;
}

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private next = 0;
  port = 0;

  constructor(
    private backends: Backend[],
    private readonly connectTimeoutMs = 1000,
  ) {}

  setBackends(backends: Backend[]): void {
    this.backends = backends;
  }

  /** Starts accepting on `port` (0: a free one). */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    this.track(client);
    client.pause();
    this.connect(client, 0);
  }

  private connect(client: net.Socket, tried: number): void {
    if (tried >= this.backends.length || client.destroyed) {
      client.destroy();
      return;
    }
    const backend = this.backends[this.next++ % this.backends.length]!;
    const upstream = net.connect({ host: backend.host, port: backend.port });
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), this.connectTimeoutMs);
    upstream.once('connect', () => {
      clearTimeout(timer);
      this.track(upstream);
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.once('close', close);
      upstream.once('close', close);
      client.on('error', close);
      upstream.on('error', close);
    });
    upstream.once('error', () => {
      clearTimeout(timer);
      // That backend is down: try the next one.
      if (!upstream.readyState.startsWith('open')) this.connect(client, tried + 1);
    });
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Stops accepting and cuts every connection at once, as a dead host or a pulled cable would. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
