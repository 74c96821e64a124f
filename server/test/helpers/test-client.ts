/**
 * A small protocol client for the tests, on `ws` and `@therapy-chat/protocol` only (the SDK is tested on its own).
 * It records every frame it receives and lets a test wait for the one it expects.
 */
import { WebSocket } from 'ws';
import {
  type AckFrame,
  type ClientFrame,
  type Codec,
  codecFor,
  type ErrorFrame,
  type JoinedFrame,
  type MessageFrame,
  MSGPACK_SUBPROTOCOL,
  type ServerFrame,
  type Subprotocol,
  type WelcomeFrame,
} from '@therapy-chat/protocol';

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

let nextMsgId = 0;

export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly closed: Promise<Closed>;
  private waiters: {
    match: (f: ServerFrame) => boolean;
    resolve: (f: ServerFrame) => void;
    reject: (err: Error) => void;
  }[] = [];
  private nextId = 1;
  private closeInfo: Closed | undefined;

  private constructor(
    readonly ws: WebSocket,
    readonly codec: Codec,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = codec.decode(isBinary ? new Uint8Array(data) : data.toString('utf8')) as ServerFrame;
      if (frame.type === 'ping') this.send({ type: 'pong' });
      this.frames.push(frame);
      for (const w of [...this.waiters]) {
        if (w.match(frame)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        // Nothing more will arrive: whoever waits for a frame hears so now.
        for (const w of this.waiters.splice(0))
          w.reject(new Error(`connection closed (${code}) before the frame arrived`));
        resolve(this.closeInfo);
      }),
    );
    ws.on('error', () => {});
  }

  static connect(url: string, subprotocol: Subprotocol | null = MSGPACK_SUBPROTOCOL): Promise<TestClient> {
    const ws = subprotocol ? new WebSocket(url, subprotocol) : new WebSocket(url);
    const client = new TestClient(ws, codecFor(subprotocol ?? MSGPACK_SUBPROTOCOL));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    });
  }

  get isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  newId(): number {
    return this.nextId++;
  }

  send(frame: ClientFrame | Record<string, unknown>): void {
    this.ws.send(this.codec.encode(frame));
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** The first frame (already received or future) that matches; rejects after `timeoutMs`. */
  waitFor<T extends ServerFrame = ServerFrame>(
    match: (f: ServerFrame) => boolean,
    timeoutMs = 5000,
    fromIndex = 0,
  ): Promise<T> {
    const seen = this.frames.slice(fromIndex).find(match);
    if (seen) return Promise.resolve(seen as T);
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (${this.closeInfo.code})`));
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: ServerFrame) => (clearTimeout(timer), resolve(f as T)),
        reject: (err: Error) => (clearTimeout(timer), reject(err)),
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for a frame; last frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Sends a request frame with a fresh id and waits for the reply carrying it. */
  async request<T extends ServerFrame = ServerFrame>(
    frame: Record<string, unknown>,
    timeoutMs = 5000,
  ): Promise<T | ErrorFrame> {
    const id = this.newId();
    const from = this.frames.length;
    this.send({ ...frame, id });
    return this.waitFor<T | ErrorFrame>((f) => 'id' in f && f.id === id, timeoutMs, from);
  }

  async auth(token: string): Promise<WelcomeFrame | ErrorFrame> {
    return this.request<WelcomeFrame>({ type: 'auth', token });
  }

  async join(conv: string, since?: number): Promise<JoinedFrame | ErrorFrame> {
    return this.request<JoinedFrame>({ type: 'join', conv, ...(since !== undefined && { since }) });
  }

  async sendText(
    conv: string,
    text: string,
    clientMsgId = `m-${process.pid}-${++nextMsgId}`,
  ): Promise<AckFrame | ErrorFrame> {
    return this.request<AckFrame>({ type: 'send', conv, clientMsgId, text });
  }

  /** Messages received for a conversation, in arrival order. */
  messages(conv: string): MessageFrame[] {
    return this.frames.filter((f): f is MessageFrame => f.type === 'msg' && f.conv === conv);
  }

  async waitForSeq(conv: string, seq: number, timeoutMs = 5000): Promise<MessageFrame> {
    return this.waitFor<MessageFrame>((f) => f.type === 'msg' && f.conv === conv && f.seq === seq, timeoutMs);
  }

  errors(): ErrorFrame[] {
    return this.frames.filter((f): f is ErrorFrame => f.type === 'error');
  }

  close(): Promise<Closed> {
    if (!this.closeInfo) this.ws.close(1000);
    return this.closed;
  }
}
