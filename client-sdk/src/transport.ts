/**
 * A tiny interface over a WebSocket, so the client never touches the socket API directly. `webSocketTransport` adapts
 * anything shaped like the browser's `WebSocket` (the browser's own, Node 22's global, or `ws`, whose `WebSocket`
 * implements the same `on…` handlers and `binaryType`).
 */

export interface Transport {
  /** Sends one frame; dropped silently when the socket is no longer open (the client's disconnect path follows). */
  send(data: Uint8Array | string): void;
  /** Closes with a close frame. */
  close(code: number, reason: string): void;
  /** Drops the connection now, without waiting for a close handshake a dead network would never complete. */
  terminate(): void;
}

export interface TransportEvents {
  /** The socket is open; `protocol` is the subprotocol the server picked ('' if none). */
  open(protocol: string): void;
  message(data: Uint8Array | string): void;
  /** The socket closed (either side, or it never opened). Called once, after which no other event comes. */
  close(code: number, reason: string): void;
}

export type TransportFactory = (url: string, protocols: readonly string[], events: TransportEvents) => Transport;

/** The part of the WebSocket API the SDK uses. */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructorLike = new (url: string, protocols?: string | string[]) => WebSocketLike;

const OPEN = 1;
const CLOSED = 3;

/** A transport on `WebSocketImpl` (default: the global `WebSocket`). */
export function webSocketTransport(WebSocketImpl?: WebSocketConstructorLike): TransportFactory {
  return (url, protocols, events) => {
    const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
    if (!Impl) {
      throw new Error(
        'no WebSocket implementation: pass `WebSocket` in the client options (in Node 20, import the SDK from `@therapy-chat/client-sdk`, which uses `ws`)',
      );
    }
    let done = false;
    const finish = (code: number, reason: string) => {
      if (done) return;
      done = true;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      events.close(code, reason);
    };
    const ws = new Impl(url, [...protocols]);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => events.open(ws.protocol);
    ws.onmessage = (event) => {
      if (done) return;
      const data = event.data;
      if (typeof data === 'string') events.message(data);
      else if (data instanceof ArrayBuffer) events.message(new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) events.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    };
    ws.onclose = (event) => finish(event.code, event.reason);
    // An error is always followed by a close event; the close carries what the client acts on.
    ws.onerror = () => {};
    return {
      send(data) {
        if (!done && ws.readyState === OPEN) ws.send(data);
      },
      close(code, reason) {
        if (ws.readyState !== CLOSED) ws.close(code, reason);
      },
      terminate() {
        const raw = ws as WebSocketLike & { terminate?: () => void };
        if (typeof raw.terminate === 'function') raw.terminate();
        else if (ws.readyState !== CLOSED) ws.close(1000, 'dropped by the client');
        finish(1006, 'dropped by the client');
      },
    };
  };
}
