/** What the coordinator tells a generator worker to do, and what the worker reports back (over IPC, as JSON). */
import type { Role } from '@therapy-chat/protocol';
import type { CheckResult } from './checker.js';

/** Which latency group a participant's deliveries are recorded in. */
export type Group = 'normal' | 'slow';

export interface UserPlan {
  /** Index in the worker's list; the user's connections are numbered by it. */
  readonly idx: number;
  readonly id: string;
  readonly role: Role;
  readonly token: string;
  /** Conversations it joins (from seq 0) and, when `sends`, writes in. */
  readonly convs: readonly string[];
  /** Index into the plan's URLs of the first node it connects to; it moves to the next one on each reconnect. */
  readonly url: number;
  readonly sends: boolean;
  readonly group: Group;
}

export interface ConvPlan {
  readonly id: string;
  /** Messages per second each sending member writes here. */
  readonly rate: number;
  /** Text length: a fixed number of characters, or 0 for the realistic mix. */
  readonly textLength: number;
}

export interface SlowPlan {
  /** User indexes (in this worker) that stop reading. */
  readonly users: readonly number[];
  /** When, after traffic starts, they stop reading; and for how long. */
  readonly atMs: number;
  readonly forMs: number;
}

export interface WorkerPlan {
  readonly worker: number;
  readonly urls: readonly string[];
  readonly users: readonly UserPlan[];
  readonly convs: readonly ConvPlan[];
  /** Probability that a message is preceded by a typing indicator. */
  readonly typing: number;
  /** New connections per second while connecting (this worker's share). */
  readonly connectRate: number;
  /** Most unacknowledged messages per (user, conversation); beyond, new messages are skipped and counted. */
  readonly maxInflight: number;
  /** First reconnect waits a random 0…jitter ms; later ones back off exponentially up to maxDelay. */
  readonly reconnectJitterMs: number;
  readonly reconnectMaxDelayMs: number;
  /** Resend a message not acknowledged after this long (also after RATE_LIMITED). */
  readonly ackTimeoutMs: number;
  readonly slow: SlowPlan | undefined;
  /** When set, the checker's input is also written to this NDJSON file (for `verify`). */
  readonly eventsFile: string | undefined;
  /** Stop after this long in any case (the coordinator normally says stop first). */
  readonly hardLimitMs: number;
}

// ---------------------------------------------------------------- coordinator → worker

export type ToWorker =
  | { readonly type: 'plan'; readonly plan: WorkerPlan }
  /** Start sending (all connected). */
  | { readonly type: 'go'; readonly at: number }
  /** Stop sending; wait for outstanding acks and deliveries (up to `drainMs` without progress); report `final`. */
  | { readonly type: 'stop'; readonly drainMs: number }
  | { readonly type: 'exit' };

// ---------------------------------------------------------------- worker → coordinator

/** Counters over one reporting interval. */
export interface Counts {
  sent: number;
  resent: number;
  acked: number;
  /** `msg` frames received by participants other than the sender. */
  delivered: number;
  /** `msg` frames received by the sender itself (its own echo). */
  echoes: number;
  typingSent: number;
  typingReceived: number;
  /** Messages not generated because the user already had `maxInflight` unacknowledged. */
  skipped: number;
  connectsOpened: number;
  /** Connections closed, by close code. */
  closes: Record<string, number>;
  /** Error frames, by code. */
  errors: Record<string, number>;
  /** Connections that could not be opened (refused, reset, handshake failed). */
  connectFailures: number;
}

export function emptyCounts(): Counts {
  return {
    sent: 0,
    resent: 0,
    acked: 0,
    delivered: 0,
    echoes: 0,
    typingSent: 0,
    typingReceived: 0,
    skipped: 0,
    connectsOpened: 0,
    closes: {},
    errors: {},
    connectFailures: 0,
  };
}

export function addCounts(into: Counts, c: Counts): void {
  for (const k of Object.keys(c) as (keyof Counts)[]) {
    const v = c[k];
    if (typeof v === 'number') (into[k] as number) += v;
    else
      for (const [code, n] of Object.entries(v))
        (into[k] as Record<string, number>)[code] = ((into[k] as Record<string, number>)[code] ?? 0) + n;
  }
}

export interface Tick {
  readonly type: 'tick';
  readonly worker: number;
  /** Epoch ms at the end of the interval. */
  readonly at: number;
  readonly intervalMs: number;
  readonly counts: Counts;
  /** Encoded histograms of this interval (µs). */
  readonly delivery: string;
  readonly deliveryNormal: string;
  readonly ack: string;
  /** Open, authenticated connections now; users with every conversation joined now. */
  readonly open: number;
  readonly ready: number;
  /** CPU used by this worker in the interval, in µs; its RSS now. */
  readonly cpuUs: number;
  readonly rss: number;
  /** Event-loop delay p99 over the interval, ms: how late the generator itself runs. */
  readonly loopDelayP99: number;
}

export interface Final {
  readonly type: 'final';
  readonly worker: number;
  readonly check: CheckResult;
  /** Whole-run histograms (µs), encoded. */
  readonly delivery: string;
  readonly deliveryNormal: string;
  readonly deliverySlow: string;
  readonly ack: string;
  /** Socket open → `welcome`, and → every conversation joined. */
  readonly connect: string;
  readonly joined: string;
  /** Unexpected disconnect → every conversation joined again. */
  readonly resume: string;
  readonly drops: number;
  readonly resumed: number;
  /** Epoch ms of the last resume (0 if none). */
  readonly lastResumeAt: number;
  /** Users still disconnected at the end. */
  readonly down: number;
  /** Messages still unacknowledged at the end. */
  readonly unacked: number;
  /** Deliveries still owed when the drain ended. */
  readonly outstanding: number;
  /** Slow users closed by the server with 4200, and how many of them resumed. */
  readonly slowCut: number;
  readonly slowResumed: number;
  /** Fatal problems (a close code that says stop, a refused join). */
  readonly fatal: readonly string[];
  readonly totals: Counts;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly worker: number; readonly at: number; readonly connectStartedAt: number }
  | Tick
  | Final
  | { readonly type: 'failed'; readonly worker: number; readonly error: string };
