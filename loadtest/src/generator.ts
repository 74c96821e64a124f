/**
 * A generator worker (a child process of the coordinator): runs its share of virtual patients and therapists over
 * real WebSocket connections, speaking the protocol with the same codec as the apps, and measures and checks what
 * they experience.
 *
 * Each virtual user behaves like the SDK: it connects, authenticates, joins its conversations (`since: 0` the first
 * time, then `since` = what it already has), sends with a fresh `clientMsgId`, keeps unacknowledged messages in an
 * outbox and resends them with the same id after a reconnect, a `RATE_LIMITED` or an ack timeout, answers pings, and
 * reconnects with jittered backoff (moving to the next URL) when the connection drops.
 *
 * Traffic is open-loop: messages are created on a Poisson schedule whether or not earlier ones were answered (up to
 * `maxInflight` outstanding per conversation), and latencies are measured from creation, so a server that falls
 * behind shows up as latency rather than being hidden by a slower generator.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import {
  closeAction,
  ERROR_CODES,
  type ErrorFrame,
  isErrorCode,
  MSGPACK_SUBPROTOCOL,
  msgpackCodec,
  newClientMsgId,
  type ServerFrame,
} from '@therapy-chat/protocol';
import { DeliveryChecker } from './checker.js';
import { encodeHistogram, newHistogram, recordMs } from './histogram.js';
import {
  addCounts,
  type ConvPlan,
  type Counts,
  emptyCounts,
  type FromWorker,
  type UserPlan,
  type WorkerPlan,
} from './plan.js';
import { rng, textPool } from './text.js';

const TICK_MS = 5;
const REPORT_MS = 1000;
const MAX_REQUEST_ID = 2 ** 31 - 1;

interface Out {
  readonly clientMsgId: string;
  readonly text: string;
  /** performance.now() when the user "pressed send". */
  readonly createdAt: number;
  lastTx: number;
  tx: number;
}

class Stream {
  ready = false;
  joinId = -1;
  readonly unacked = new Map<string, Out>();
  nextAt = 0;
  typingAt = 0;
  constructor(readonly conv: ConvPlan) {}
}

type State = 'idle' | 'connecting' | 'open' | 'down' | 'stopped' | 'fatal';

class VUser {
  ws: WebSocket | undefined;
  state: State = 'idle';
  readonly streams: Stream[];
  readonly byConv = new Map<string, Stream>();
  urlIndex: number;
  attempts = 0;
  connectStartedAt = 0;
  everReady = false;
  /** Epoch ms of an unexpected disconnect not yet resumed from (0: none). */
  downAt = 0;
  pausedUntil = 0;
  rateLimitedAt = -1;
  stalled = false;
  cutWhileSlow = false;
  nextId = 1;

  constructor(
    readonly plan: UserPlan,
    convs: ReadonlyMap<string, ConvPlan>,
  ) {
    this.streams = plan.convs.map((id) => new Stream(convs.get(id)!));
    for (const s of this.streams) this.byConv.set(s.conv.id, s);
    this.urlIndex = plan.url;
  }

  get allJoined(): boolean {
    for (const s of this.streams) if (!s.ready) return false;
    return true;
  }

  requestId(): number {
    const id = this.nextId;
    this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
    return id;
  }
}

export class Generator {
  private readonly plan: WorkerPlan;
  private readonly users: VUser[];
  private readonly senders: VUser[];
  private readonly checker = new DeliveryChecker();
  private readonly membersOf = new Map<string, number>();
  private readonly pools = new Map<number, string[]>();
  private readonly random = rng(0x5eed ^ (process.pid << 4));
  /** clientMsgId → creation time and how many other participants still have to receive it. */
  private readonly pendingLatency = new Map<string, { at: number; left: number }>();

  private counts: Counts = emptyCounts();
  private readonly totals: Counts = emptyCounts();
  private readonly tickDelivery = newHistogram();
  private readonly tickDeliveryNormal = newHistogram();
  private readonly tickAck = newHistogram();
  private readonly runDelivery = newHistogram();
  private readonly runDeliveryNormal = newHistogram();
  private readonly runDeliverySlow = newHistogram();
  private readonly runAck = newHistogram();
  private readonly connectHist = newHistogram();
  private readonly joinedHist = newHistogram();
  private readonly resumeHist = newHistogram();
  private drops = 0;
  private resumed = 0;
  private lastResumeAt = 0;
  private slowCut = 0;
  private slowResumed = 0;
  private readonly fatal: string[] = [];

  private phase: 'connecting' | 'sending' | 'draining' | 'done' = 'connecting';
  private readonly startedAt = performance.now();
  private readonly connectStartedAt = Date.now();
  private started = 0;
  private readyUsers = 0;
  private openUsers = 0;
  private reportedReady = false;
  private goAt = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private lastReport = performance.now();
  private cpu = process.cpuUsage();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private events: string[] | undefined;
  private eventsOut: fs.WriteStream | undefined;

  constructor(
    plan: WorkerPlan,
    private readonly send: (m: FromWorker) => void,
  ) {
    this.plan = plan;
    const convs = new Map(plan.convs.map((c) => [c.id, c]));
    this.users = plan.users.map((u) => new VUser(u, convs));
    this.senders = this.users.filter((u) => u.plan.sends);
    for (const u of plan.users) {
      for (const c of u.convs) {
        this.membersOf.set(c, (this.membersOf.get(c) ?? 0) + 1);
        this.checker.member(c, u.id);
      }
    }
    for (const c of plan.convs)
      if (!this.pools.has(c.textLength)) this.pools.set(c.textLength, textPool(c.textLength, 512, 7 + c.textLength));
    if (plan.eventsFile) {
      this.events = [];
      this.eventsOut = fs.createWriteStream(plan.eventsFile);
      for (const u of plan.users) for (const c of u.convs) this.event({ ev: 'member', conv: c, user: u.id });
    }
  }

  start(): void {
    this.loopDelay.enable();
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.reportTimer = setInterval(() => this.report(), REPORT_MS);
    setTimeout(() => this.finish(), this.plan.hardLimitMs).unref();
  }

  private event(e: object): void {
    this.events?.push(JSON.stringify(e));
  }

  // ---------------------------------------------------------------------------------------------- connections

  private connect(u: VUser): void {
    if (u.state === 'stopped' || u.state === 'fatal') return;
    const url = this.plan.urls[u.urlIndex % this.plan.urls.length]!;
    u.state = 'connecting';
    u.connectStartedAt = performance.now();
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, MSGPACK_SUBPROTOCOL, { perMessageDeflate: false, handshakeTimeout: 15_000 });
    } catch (err) {
      this.fatal.push(`cannot connect to ${url}: ${(err as Error).message}`);
      u.state = 'fatal';
      return;
    }
    u.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.counts.connectsOpened++;
      ws.send(msgpackCodec.encode({ type: 'auth', token: u.plan.token }));
    });
    ws.on('message', (data: Buffer) => {
      let frame: ServerFrame;
      try {
        frame = msgpackCodec.decode(data) as ServerFrame;
      } catch {
        this.countError('UNDECODABLE');
        return;
      }
      this.onFrame(u, frame);
    });
    ws.on('error', () => {});
    ws.on('close', (code: number) => {
      if (u.ws !== ws) return;
      u.ws = undefined;
      if (!opened) this.counts.connectFailures++;
      this.onClose(u, code);
    });
  }

  private onClose(u: VUser, code: number): void {
    const wasOpen = u.state === 'open';
    if (wasOpen) this.openUsers--;
    for (const s of u.streams) s.ready = false;
    this.counts.closes[code] = (this.counts.closes[code] ?? 0) + 1;
    if (u.state === 'stopped' || this.phase === 'done') return;
    if (u.everReady && u.downAt === 0) {
      u.downAt = Date.now();
      this.drops++;
    }
    if (code === 4200 && u.plan.group === 'slow' && !u.cutWhileSlow) {
      u.cutWhileSlow = true;
      this.slowCut++;
    }
    if (closeAction(code) === 'stop') {
      u.state = 'fatal';
      this.fatal.push(`${u.plan.role} ${u.plan.id}: closed with ${code} (a code that says do not reconnect)`);
      return;
    }
    u.state = 'down';
    u.urlIndex++;
    const delay =
      u.attempts === 0
        ? this.random() * this.plan.reconnectJitterMs
        : Math.min(this.plan.reconnectMaxDelayMs, 100 * 2 ** u.attempts) * (0.5 + this.random() / 2);
    u.attempts++;
    setTimeout(() => this.connect(u), delay);
  }

  private write(u: VUser, frame: object): boolean {
    const ws = u.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(msgpackCodec.encode(frame));
    return true;
  }

  private onFrame(u: VUser, f: ServerFrame): void {
    switch (f.type) {
      case 'msg': {
        const now = performance.now();
        this.checker.receive(f.conv, u.plan.id, f.seq, f.clientMsgId);
        this.events?.push(
          `{"ev":"msg","conv":"${f.conv}","user":"${u.plan.id}","seq":${f.seq},"clientMsgId":${JSON.stringify(f.clientMsgId)}}`,
        );
        if (f.from === u.plan.id) {
          this.counts.echoes++;
          return;
        }
        this.counts.delivered++;
        const p = this.pendingLatency.get(f.clientMsgId);
        if (p) {
          const ms = now - p.at;
          recordMs(this.tickDelivery, ms);
          recordMs(this.runDelivery, ms);
          if (u.plan.group === 'normal') {
            recordMs(this.tickDeliveryNormal, ms);
            recordMs(this.runDeliveryNormal, ms);
          } else recordMs(this.runDeliverySlow, ms);
          if (--p.left <= 0) this.pendingLatency.delete(f.clientMsgId);
        }
        return;
      }
      case 'ack': {
        this.checker.ack(f.conv, f.clientMsgId, f.seq);
        this.events?.push(
          `{"ev":"ack","conv":"${f.conv}","clientMsgId":${JSON.stringify(f.clientMsgId)},"seq":${f.seq}}`,
        );
        const s = u.byConv.get(f.conv);
        const out = s?.unacked.get(f.clientMsgId);
        if (!s || !out) return;
        s.unacked.delete(f.clientMsgId);
        this.counts.acked++;
        const ms = performance.now() - out.createdAt;
        recordMs(this.tickAck, ms);
        recordMs(this.runAck, ms);
        return;
      }
      case 'typing':
        this.counts.typingReceived++;
        return;
      case 'ping':
        this.write(u, f.id === undefined ? { type: 'pong' } : { type: 'pong', id: f.id });
        return;
      case 'welcome': {
        u.state = 'open';
        this.openUsers++;
        u.attempts = 0;
        if (!u.everReady) recordMs(this.connectHist, performance.now() - u.connectStartedAt);
        for (const s of u.streams) this.join(u, s);
        return;
      }
      case 'joined': {
        const s = u.byConv.get(f.conv);
        if (!s || f.id !== s.joinId) return;
        s.ready = true;
        if (f.closed) this.fatal.push(`${f.conv} is closed: the appointment is not live`);
        this.transmitAll(u, s, Infinity);
        if (u.allJoined) this.onAllJoined(u);
        return;
      }
      case 'error':
        this.onError(u, f);
        return;
      default:
        return;
    }
  }

  private onAllJoined(u: VUser): void {
    const now = Date.now();
    if (!u.everReady) {
      u.everReady = true;
      this.readyUsers++;
      recordMs(this.joinedHist, performance.now() - u.connectStartedAt);
      if (!this.reportedReady && this.readyUsers === this.users.length) {
        this.reportedReady = true;
        this.send({ type: 'ready', worker: this.plan.worker, at: now, connectStartedAt: this.connectStartedAt });
      }
      return;
    }
    if (u.downAt > 0) {
      recordMs(this.resumeHist, now - u.downAt);
      this.resumed++;
      this.lastResumeAt = now;
      u.downAt = 0;
      if (u.cutWhileSlow) this.slowResumed++;
    }
  }

  private join(u: VUser, s: Stream): void {
    s.ready = false;
    s.joinId = u.requestId();
    this.write(u, {
      type: 'join',
      id: s.joinId,
      conv: s.conv.id,
      since: this.checker.contiguous(s.conv.id, u.plan.id),
    });
  }

  private countError(code: string): void {
    this.counts.errors[code] = (this.counts.errors[code] ?? 0) + 1;
  }

  private onError(u: VUser, f: ErrorFrame): void {
    this.countError(f.code);
    const now = performance.now();
    const stream = f.conv ? u.byConv.get(f.conv) : undefined;
    if (stream && f.id !== undefined && f.id === stream.joinId) {
      if (isErrorCode(f.code) && ERROR_CODES[f.code].retryable) {
        setTimeout(() => u.state === 'open' && this.join(u, stream), f.retryAfterMs ?? 200);
      } else {
        this.fatal.push(`join of ${stream.conv.id} by ${u.plan.id} refused: ${f.code} ${f.message}`);
      }
      return;
    }
    if (f.code === 'RATE_LIMITED') {
      // The dropped frame is not named: resend, after the wait, whatever was sent before this answer.
      u.pausedUntil = now + (f.retryAfterMs ?? 200);
      u.rateLimitedAt = now;
      return;
    }
    const out = stream && f.clientMsgId ? stream.unacked.get(f.clientMsgId) : undefined;
    if (!stream || !out) return;
    if (isErrorCode(f.code) && ERROR_CODES[f.code].retryable) {
      out.lastTx = now - this.plan.ackTimeoutMs + (f.retryAfterMs ?? 200);
      return;
    }
    // A request error: the message will never be stored. Count it and give up on it.
    stream.unacked.delete(out.clientMsgId);
    this.pendingLatency.delete(out.clientMsgId);
    this.fatal.push(`send refused for good: ${f.code} ${f.message}`);
  }

  private canSend(u: VUser, s: Stream, now: number): boolean {
    return s.ready && u.state === 'open' && !u.stalled && now >= u.pausedUntil;
  }

  private transmit(u: VUser, s: Stream, out: Out, now: number): void {
    if (
      !this.write(u, { type: 'send', id: u.requestId(), conv: s.conv.id, clientMsgId: out.clientMsgId, text: out.text })
    )
      return;
    if (out.tx > 0) this.counts.resent++;
    else this.counts.sent++;
    out.tx++;
    out.lastTx = now;
  }

  /** (Re)sends every unacknowledged message last transmitted at or before `before` (Infinity: all of them). */
  private transmitAll(u: VUser, s: Stream, before: number): void {
    const now = performance.now();
    if (!this.canSend(u, s, now)) return;
    for (const out of s.unacked.values()) if (out.lastTx <= before) this.transmit(u, s, out, now);
  }

  // ---------------------------------------------------------------------------------------------- the clock

  private interval(rate: number): number {
    return (-Math.log(1 - this.random()) * 1000) / rate;
  }

  private schedule(s: Stream, from: number): void {
    const gap = this.interval(s.conv.rate);
    s.nextAt = from + gap;
    s.typingAt = this.random() < this.plan.typing ? Math.max(from, s.nextAt - Math.min(2000, gap / 2)) : 0;
  }

  private tick(): void {
    const now = performance.now();
    if (this.phase === 'connecting' || this.phase === 'sending') {
      const target = Math.min(
        this.users.length,
        Math.floor(((now - this.startedAt) / 1000) * this.plan.connectRate) + 1,
      );
      while (this.started < target) this.connect(this.users[this.started++]!);
    }
    if (this.phase === 'sending') this.generate(now);
    for (const u of this.users) {
      if (u.rateLimitedAt >= 0 && now >= u.pausedUntil) {
        const before = u.rateLimitedAt;
        u.rateLimitedAt = -1;
        for (const s of u.streams) this.transmitAll(u, s, before);
      }
    }
  }

  private generate(now: number): void {
    const { maxInflight } = this.plan;
    for (const u of this.senders) {
      if (u.state === 'fatal') continue;
      if (u.stalled) {
        // A user whose app is frozen writes nothing; its schedule moves on without it.
        for (const s of u.streams) while (s.conv.rate > 0 && now >= s.nextAt) this.schedule(s, s.nextAt);
        continue;
      }
      for (const s of u.streams) {
        if (s.conv.rate <= 0) continue;
        if (s.typingAt > 0 && now >= s.typingAt) {
          s.typingAt = 0;
          if (this.canSend(u, s, now) && this.write(u, { type: 'typing', conv: s.conv.id, active: true }))
            this.counts.typingSent++;
        }
        while (now >= s.nextAt) {
          const createdAt = s.nextAt;
          this.schedule(s, s.nextAt);
          if (s.unacked.size >= maxInflight) {
            this.counts.skipped++;
            continue;
          }
          const pool = this.pools.get(s.conv.textLength)!;
          const out: Out = {
            // Time-ordered, as the SDK makes them: the server's client-id index is written at its end.
            clientMsgId: newClientMsgId(),
            text: pool[Math.floor(this.random() * pool.length)]!,
            createdAt,
            lastTx: 0,
            tx: 0,
          };
          s.unacked.set(out.clientMsgId, out);
          const others = (this.membersOf.get(s.conv.id) ?? 1) - 1;
          if (others > 0) this.pendingLatency.set(out.clientMsgId, { at: createdAt, left: others });
          if (this.canSend(u, s, now)) this.transmit(u, s, out, now);
        }
      }
    }
  }

  /** Resends what has waited too long for its ack (lost in a drop, or dropped by a rate limit). */
  private retransmitStale(now: number): void {
    const before = now - this.plan.ackTimeoutMs;
    for (const u of this.senders) for (const s of u.streams) if (s.unacked.size > 0) this.transmitAll(u, s, before);
  }

  go(at: number): void {
    this.goAt = at;
    const now = performance.now();
    for (const u of this.senders) for (const s of u.streams) if (s.conv.rate > 0) this.schedule(s, now);
    this.phase = 'sending';
    const slow = this.plan.slow;
    if (slow) {
      const stalled = slow.users.map((i) => this.users[i]!);
      setTimeout(() => {
        for (const u of stalled) {
          u.stalled = true;
          socketOf(u.ws)?.pause();
        }
        setTimeout(() => {
          for (const u of stalled) {
            u.stalled = false;
            socketOf(u.ws)?.resume();
          }
        }, slow.forMs);
      }, slow.atMs);
    }
  }

  // ---------------------------------------------------------------------------------------------- reporting

  private report(): void {
    const now = performance.now();
    if (this.phase === 'sending') this.retransmitStale(now);
    const cpu = process.cpuUsage(this.cpu);
    this.cpu = process.cpuUsage();
    const tick: FromWorker = {
      type: 'tick',
      worker: this.plan.worker,
      at: Date.now(),
      intervalMs: now - this.lastReport,
      counts: this.counts,
      delivery: encodeHistogram(this.tickDelivery),
      deliveryNormal: encodeHistogram(this.tickDeliveryNormal),
      ack: encodeHistogram(this.tickAck),
      open: this.openUsers,
      ready: this.users.reduce((n, u) => n + (u.state === 'open' && u.allJoined ? 1 : 0), 0),
      cpuUs: cpu.user + cpu.system,
      rss: process.memoryUsage.rss(),
      loopDelayP99: this.loopDelay.count > 0 ? this.loopDelay.percentile(99) / 1e6 : 0,
    };
    this.lastReport = now;
    addCounts(this.totals, this.counts);
    this.counts = emptyCounts();
    this.tickDelivery.reset();
    this.tickDeliveryNormal.reset();
    this.tickAck.reset();
    this.loopDelay.reset();
    this.send(tick);
    this.flushEvents();
  }

  private flushEvents(): void {
    if (this.events && this.events.length > 0 && this.eventsOut) {
      this.eventsOut.write(`${this.events.join('\n')}\n`);
      this.events.length = 0;
    }
  }

  private unackedCount(): number {
    let n = 0;
    for (const u of this.senders) for (const s of u.streams) n += s.unacked.size;
    return n;
  }

  /**
   * Stops creating messages, then waits until every message is acknowledged and every acknowledged message has
   * reached every participant: for as long as that makes progress, but no more than `drainMs` without progress (a
   * server that is merely behind keeps delivering; one that lost something does not), and at most 6 × `drainMs`.
   */
  stop(drainMs: number): void {
    if (this.phase === 'draining' || this.phase === 'done') return;
    this.phase = 'draining';
    const started = performance.now();
    let lastProgressAt = started;
    let lastProgress = -1;
    const poll = () => {
      if (this.phase === 'done') return;
      const now = performance.now();
      this.retransmitStale(now);
      const progress = this.totals.acked + this.totals.delivered + this.counts.acked + this.counts.delivered;
      if (progress !== lastProgress) {
        lastProgress = progress;
        lastProgressAt = now;
      }
      const done = this.unackedCount() === 0 && this.checker.outstanding() === 0;
      if (done || now - lastProgressAt >= drainMs || now - started >= 6 * drainMs) this.finish();
      else setTimeout(poll, 100);
    };
    poll();
  }

  private finish(): void {
    if (this.phase === 'done') return;
    const outstanding = this.checker.outstanding();
    const unacked = this.unackedCount();
    this.phase = 'done';
    this.report();
    clearInterval(this.tickTimer);
    clearInterval(this.reportTimer);
    let down = 0;
    for (const u of this.users) {
      if (u.state !== 'open') down++;
      const ws = u.ws;
      u.state = 'stopped';
      if (ws) {
        socketOf(ws)?.resume();
        ws.close(1000, 'load test over');
        setTimeout(() => ws.terminate(), 2000).unref();
      }
    }
    this.flushEvents();
    this.eventsOut?.end();
    this.send({
      type: 'final',
      worker: this.plan.worker,
      check: this.checker.result(),
      delivery: encodeHistogram(this.runDelivery),
      deliveryNormal: encodeHistogram(this.runDeliveryNormal),
      deliverySlow: encodeHistogram(this.runDeliverySlow),
      ack: encodeHistogram(this.runAck),
      connect: encodeHistogram(this.connectHist),
      joined: encodeHistogram(this.joinedHist),
      resume: encodeHistogram(this.resumeHist),
      drops: this.drops,
      resumed: this.resumed,
      lastResumeAt: this.lastResumeAt,
      down,
      unacked,
      outstanding,
      slowCut: this.slowCut,
      slowResumed: this.slowResumed,
      fatal: [...new Set(this.fatal)].slice(0, 50),
      totals: this.totals,
    });
  }
}

function socketOf(ws: WebSocket | undefined): net.Socket | undefined {
  return (ws as unknown as { _socket?: net.Socket } | undefined)?._socket;
}
