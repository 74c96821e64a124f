/** The default transport, on `ws`, sharing the HTTP server (and port) of the HTTP API. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { isSubprotocol, negotiateSubprotocol, type Subprotocol } from '@therapy-chat/protocol';
import type { ConnectionListener, Transport, TransportConnection, TransportOptions } from './transport.js';

class WsConnection implements TransportConnection {
  constructor(
    private readonly ws: WebSocket,
    readonly subprotocol: Subprotocol,
    readonly remoteAddress: string,
    readonly userAgent: string,
  ) {}

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  send(data: Uint8Array | string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data);
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
        const conn = new WsConnection(ws, subprotocol, remote, String(req.headers['user-agent'] ?? '').slice(0, 200));
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
