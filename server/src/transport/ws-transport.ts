/** The default transport, on `ws`, sharing the HTTP server (and port) of the HTTP API. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { isSubprotocol, negotiateSubprotocol, type Subprotocol } from '@therapy-chat/protocol';
import type { ConnectionListener, Transport, TransportConnection, TransportOptions } from './transport.js';

/**
 * Sockets written to in the current tick, corked until it ends. A delivered message costs the sender an ack and an
 * echo and the other side a `msg`, and a commit batch settles many messages in one go: corking each socket on its
 * first write and uncorking them all on `process.nextTick` turns the frames one connection gets in one tick into one
 * `writev` instead of one per frame (socket writes were a fifth of the server's CPU). Corked bytes count in
 * `bufferedAmount`, so the outbound byte cap sees them as before.
 */
const corked: WsConnection[] = [];
/**
 * Corked bytes past which a socket is flushed at once rather than at the end of the tick: the kernel takes them now,
 * as it would have without the cork, so a burst (a commit batch of long messages, a replay page) never looks like a
 * slow consumer to the byte cap. At most this much more than before is counted in `bufferedAmount`.
 */
const CORK_FLUSH_BYTES = 16 * 1024;

function uncorkAll(): void {
  for (const conn of corked.splice(0)) conn.uncork();
}

class WsConnection implements TransportConnection {
  private isCorked = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly subprotocol: Subprotocol,
    readonly remoteAddress: string,
    readonly userAgent: string,
  ) {}

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: Uint8Array | string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      if (corked.push(this) === 1) process.nextTick(uncorkAll);
    }
    this.ws.send(data);
    if (this.socket.writableLength >= CORK_FLUSH_BYTES) {
      this.socket.uncork();
      this.socket.cork();
    }
  }

  uncork(): void {
    this.isCorked = false;
    this.socket.uncork();
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  // Destroyed once written: a half-closed socket left to the peer would keep the HTTP server from closing.
  socket.end(`HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

export class WsTransport implements Transport {
  private wss: WebSocketServer | undefined;
  private accepting = true;

  attach(server: HttpServer, options: TransportOptions, listener: ConnectionListener): void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.hardMaxFrameBytes,
      perMessageDeflate: false,
      clientTracking: true,
      handleProtocols: (offered) => negotiateSubprotocol(offered) ?? false,
    });
    this.wss = wss;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = (req.url ?? '').split('?')[0];
      if (pathname !== options.path) return rejectUpgrade(socket, 404, 'Not Found');
      if (!this.accepting) return rejectUpgrade(socket, 503, 'Service Unavailable');
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (offered.length > 0 && !negotiateSubprotocol(offered)) {
        return rejectUpgrade(socket, 400, 'Bad Request');
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // An upgrade that was under way when shutdown began: send it elsewhere at once.
        if (!this.accepting) {
          ws.close(1001, 'server shutting down');
          return;
        }
        const subprotocol = isSubprotocol(ws.protocol) ? ws.protocol : negotiateSubprotocol([])!;
        const remote = req.socket.remoteAddress ?? 'unknown';
        const userAgent = String(req.headers['user-agent'] ?? '').slice(0, 200);
        const conn = new WsConnection(ws, socket, subprotocol, remote, userAgent);
        const events = listener(conn);
        ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
          events.message(
            Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data,
          );
        });
        ws.on('close', (code: number) => events.close(code));
        // Protocol errors (bad opcodes, oversize frames) make ws close the socket itself; the 'close' event follows.
        ws.on('error', () => {});
      });
    });
  }

  stopAccepting(): void {
    this.accepting = false;
  }

  async close(): Promise<void> {
    this.accepting = false;
    const wss = this.wss;
    if (!wss) return;
    for (const ws of wss.clients) ws.terminate();
    // ws emits 'close' once every client is gone; terminated sockets go within a tick or two, but never wait on a
    // straggler for long.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => wss.close(() => resolve())),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000))),
    ]);
    clearTimeout(timer);
  }
}
