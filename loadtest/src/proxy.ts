/**
 * A TCP proxy the load tool puts in front of a node, so that it can drop connections the way a network would: `cut`
 * destroys a share of the live connections at once, both sides, with no close frame (the server sees the socket
 * reset; the client sees 1006 and reconnects). Listens on 127.0.0.1 only.
 */
import net from 'node:net';

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
}

export class CuttingProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  port = 0;

  constructor(
    private readonly backendHost: string,
    private readonly backendPort: number,
  ) {}

  get connections(): number {
    return this.pairs.size;
  }

  async listen(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    server.maxConnections = 100_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', 1024, () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    const pair: Pair = { client, upstream: undefined };
    this.pairs.add(pair);
    client.setNoDelay(true);
    const upstream = net.connect({ host: this.backendHost, port: this.backendPort });
    pair.upstream = upstream;
    upstream.setNoDelay(true);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', close);
    upstream.on('error', close);
    client.once('close', close);
    upstream.once('close', close);
  }

  /** Destroys `fraction` (0–1) of the open connections, chosen at random; returns how many. */
  cut(fraction: number): number {
    const all = [...this.pairs];
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    const n = Math.round(all.length * Math.min(1, Math.max(0, fraction)));
    for (const pair of all.slice(0, n)) {
      this.pairs.delete(pair);
      // resetAndDestroy sends a TCP RST where the platform allows: no FIN, no close frame, like a pulled cable.
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    }
    return n;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.pairs.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
