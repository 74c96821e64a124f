/**
 * A client for the fault tests that does what the SDK does, on `ws` and `protocol/` only, so that server tests do
 * not depend on the SDK: reconnects (rotating through a list of URLs), rejoins with `since`, resends what was not
 * acknowledged with the same `clientMsgId`, and records every message it is given so a test can count losses,
 * duplicates and reorderings.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { closeAction, ERROR_CODES, type MessageFrame, msgpackCodec, type ServerFrame } from '@therapy-chat/protocol';

interface Unacked {
  readonly clientMsgId: string;
  readonly text: string;
  readonly resolve: (seq: number) => void;
  readonly reject: (err: Error) => void;
}

export class ResilientClient {
  /** Every `msg` frame received, in arrival order, duplicates included. */
  readonly received: MessageFrame[] = [];
  lastSeq = 0;
  connects = 0;
  private ws: WebSocket | undefined;
  private ready = false;
  private stopped = false;
  private urlIndex = 0;
  private joinId = -1;
  private lastClose: number | undefined;
  private readonly lastErrors: string[] = [];
  private nextId = 1;
  private readonly unacked = new Map<string, Unacked>();

  constructor(
    private readonly urls: readonly string[],
    private readonly token: string,
    readonly conv: string,
  ) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const ws = new WebSocket(url, 'therapy-chat.v1.msgpack');
    this.ws = ws;
    ws.on('open', () => ws.send(msgpackCodec.encode({ type: 'auth', token: this.token })));
    ws.on('message', (data: Buffer) => this.onFrame(msgpackCodec.decode(new Uint8Array(data)) as ServerFrame));
    ws.on('error', () => {});
    ws.on('close', (code: number) => {
      this.ready = false;
      this.lastClose = code;
      if (this.stopped) return;
      if (closeAction(code) === 'stop') throw new Error(`closed with terminal code ${code}`);
      // Next time, the next URL: a dead node's clients move to another.
      this.urlIndex++;
      setTimeout(() => this.connect(), 50 + Math.random() * 150);
    });
  }

  private write(frame: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(msgpackCodec.encode(frame));
  }

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'welcome':
        this.join();
        return;
      case 'joined':
        this.connects++;
        this.ready = true;
        for (const u of this.unacked.values()) this.transmit(u);
        return;
      case 'ping':
        this.write({ type: 'pong' });
        return;
      case 'msg':
        this.received.push(f);
        if (f.seq === this.lastSeq + 1) this.lastSeq = f.seq;
        return;
      case 'ack': {
        const u = this.unacked.get(f.clientMsgId);
        if (u) {
          this.unacked.delete(f.clientMsgId);
          u.resolve(f.seq);
        }
        return;
      }
      case 'error': {
        this.lastErrors.push(`${f.code}:${f.id ?? ''}`);
        if (this.lastErrors.length > 5) this.lastErrors.shift();
        if (f.id !== undefined && f.id === this.joinId) {
          // A join refused for now (store briefly unavailable, node shutting down): try again.
          if (!ERROR_CODES[f.code].retryable) throw new Error(`join refused: ${f.code}`);
          const ws = this.ws;
          // Only on the same connection: a new one joins after its own welcome.
          setTimeout(() => this.ws === ws && this.join(), f.retryAfterMs ?? 200);
          return;
        }
        if (f.code === 'RATE_LIMITED' && !f.clientMsgId) {
          // The dropped frame is not named: resend whatever is unanswered (resends are idempotent).
          setTimeout(() => {
            if (this.ready) for (const u of this.unacked.values()) this.transmit(u);
          }, f.retryAfterMs ?? 200);
          return;
        }
        const u = f.clientMsgId ? this.unacked.get(f.clientMsgId) : undefined;
        if (!u) return;
        if (ERROR_CODES[f.code].retryable) {
          setTimeout(() => this.ready && this.unacked.has(u.clientMsgId) && this.transmit(u), f.retryAfterMs ?? 200);
        } else {
          this.unacked.delete(u.clientMsgId);
          u.reject(new Error(`${f.code}: ${f.message}`));
        }
        return;
      }
      default:
        return;
    }
  }

  private join(): void {
    this.joinId = this.nextId++;
    this.write({ type: 'join', id: this.joinId, conv: this.conv, since: this.lastSeq });
  }

  private transmit(u: Unacked): void {
    this.write({ type: 'send', id: this.nextId++, conv: this.conv, clientMsgId: u.clientMsgId, text: u.text });
  }

  /** Resolves with the seq once acknowledged, however many reconnects that takes. */
  send(text: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const u: Unacked = { clientMsgId: randomUUID(), text, resolve, reject };
      this.unacked.set(u.clientMsgId, u);
      if (this.ready) this.transmit(u);
    });
  }

  /** Resolves once every message up to `seq` has been received. */
  async waitForSeq(seq: number, timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.lastSeq < seq) {
      if (Date.now() > until) throw new Error(`${this.conv}: reached seq ${this.lastSeq} of ${seq}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Counts of what a user would notice: duplicates, out-of-order arrivals, and seqs never received. */
  audit(upTo: number): { duplicates: number; outOfOrder: number; missing: number } {
    const seen = new Set<number>();
    let duplicates = 0;
    let outOfOrder = 0;
    let prev = 0;
    for (const m of this.received) {
      if (seen.has(m.seq)) duplicates++;
      else if (m.seq !== prev + 1) outOfOrder++;
      seen.add(m.seq);
      prev = Math.max(prev, m.seq);
    }
    let missing = 0;
    for (let s = 1; s <= upTo; s++) if (!seen.has(s)) missing++;
    return { duplicates, outOfOrder, missing };
  }

  /** Its state, for a test's diagnostics when something hangs. */
  describe(): Record<string, unknown> {
    return {
      conv: this.conv,
      ready: this.ready,
      connects: this.connects,
      lastSeq: this.lastSeq,
      unacked: this.unacked.size,
      wsState: this.ws?.readyState,
      url: this.urls[this.urlIndex % this.urls.length],
      lastClose: this.lastClose,
      lastErrors: this.lastErrors,
    };
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }
}
