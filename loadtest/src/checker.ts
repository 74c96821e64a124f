/**
 * The delivery checker: proves, for one run, what §3 of the design promises. It is fed a stream of events
 *
 * - `member(conv, user)`: `user` joined `conv` from its beginning (`since: 0`) and should receive every message;
 * - `ack(conv, clientMsgId, seq)`: a sender was told its message is stored under `seq`;
 * - `receive(conv, user, seq, clientMsgId)`: a `msg` frame reached `user` (on any of its connections);
 *
 * and at the end counts, per participant:
 *
 * - **lost**: an acknowledged seq that the participant never received;
 * - **duplicated**: a seq the participant received more than once (across reconnects too: a resume must not repeat);
 * - **out of order**: a seq that arrived after a higher one had already arrived (a gap that is never filled counts
 *   as lost instead);
 * - **mismatched**: a seq whose message (its `clientMsgId`) differs between participants or from the ack: the
 *   participants do not agree on the order;
 * - **ack conflicts**: one `clientMsgId` acknowledged under two different seqs (a resend must get the same ack).
 *
 * Streaming: the work per event is constant, and memory is a few bytes per (participant, seq).
 */

export interface CheckCounts {
  readonly lost: number;
  readonly duplicated: number;
  readonly outOfOrder: number;
  readonly mismatched: number;
  readonly ackConflicts: number;
}

export interface CheckResult extends CheckCounts {
  readonly conversations: number;
  readonly participants: number;
  /** Distinct messages acknowledged. */
  readonly acked: number;
  /** Acknowledged messages × participants: the deliveries that must happen. */
  readonly expectedDeliveries: number;
  /** `msg` frames received (duplicates included). */
  readonly received: number;
  /** Messages received whose ack never reached the sender (allowed: the sender resends, and gets the same seq). */
  readonly receivedUnacked: number;
  /** The first few violations, for the report. */
  readonly examples: readonly string[];
}

export const NO_VIOLATIONS: CheckCounts = { lost: 0, duplicated: 0, outOfOrder: 0, mismatched: 0, ackConflicts: 0 };

export function violations(c: CheckCounts): number {
  return c.lost + c.duplicated + c.outOfOrder + c.mismatched + c.ackConflicts;
}

const MAX_EXAMPLES = 20;

class Receiver {
  /** seen[seq] = how many times received (saturating at 255). */
  seen = new Uint8Array(64);
  maxSeq = 0;
  /** Highest seq up to which everything was received: what a resume (`since`) would ask from. */
  contiguous = 0;

  constructor(readonly user: string) {}

  mark(seq: number): number {
    if (seq >= this.seen.length) {
      let size = this.seen.length * 2;
      while (size <= seq) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.seen);
      this.seen = grown;
    }
    const before = this.seen[seq]!;
    if (before < 255) this.seen[seq] = before + 1;
    while (this.contiguous + 1 < this.seen.length && this.seen[this.contiguous + 1]! > 0) this.contiguous++;
    return before;
  }
}

class Conversation {
  /** clientMsgId → seq, from acks. */
  readonly acks = new Map<string, number>();
  /** seq → clientMsgId, from acks. */
  readonly ackedAt: (string | undefined)[] = [];
  /** seq → clientMsgId, from the first participant that received it. */
  readonly deliveredAt: (string | undefined)[] = [];
  readonly receivers = new Map<string, Receiver>();
  maxAcked = 0;

  constructor(readonly id: string) {}
}

export class DeliveryChecker {
  private readonly convs = new Map<string, Conversation>();
  private duplicated = 0;
  private outOfOrder = 0;
  private mismatched = 0;
  private ackConflicts = 0;
  private received = 0;
  private readonly examples: string[] = [];

  private conv(id: string): Conversation {
    let c = this.convs.get(id);
    if (!c) {
      c = new Conversation(id);
      this.convs.set(id, c);
    }
    return c;
  }

  private example(text: string): void {
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(text);
  }

  /** `user` follows `conv` from its first message. */
  member(conv: string, user: string): void {
    const c = this.conv(conv);
    if (!c.receivers.has(user)) c.receivers.set(user, new Receiver(user));
  }

  ack(conv: string, clientMsgId: string, seq: number): void {
    const c = this.conv(conv);
    const prev = c.acks.get(clientMsgId);
    if (prev !== undefined) {
      if (prev !== seq) {
        this.ackConflicts++;
        this.example(`${conv}: ${clientMsgId} acknowledged as seq ${prev} and again as seq ${seq}`);
      }
      return;
    }
    const other = c.ackedAt[seq];
    if (other !== undefined && other !== clientMsgId) {
      this.ackConflicts++;
      this.example(`${conv}: seq ${seq} acknowledged for both ${other} and ${clientMsgId}`);
      return;
    }
    c.acks.set(clientMsgId, seq);
    c.ackedAt[seq] = clientMsgId;
    if (seq > c.maxAcked) c.maxAcked = seq;
  }

  receive(conv: string, user: string, seq: number, clientMsgId: string): void {
    this.received++;
    const c = this.conv(conv);
    let r = c.receivers.get(user);
    if (!r) {
      r = new Receiver(user);
      c.receivers.set(user, r);
    }
    const times = r.mark(seq);
    if (times > 0) {
      this.duplicated++;
      this.example(`${conv}: ${user} received seq ${seq} again`);
    } else if (seq < r.maxSeq) {
      this.outOfOrder++;
      this.example(`${conv}: ${user} received seq ${seq} after seq ${r.maxSeq}`);
    }
    if (seq > r.maxSeq) r.maxSeq = seq;
    const first = c.deliveredAt[seq];
    if (first === undefined) c.deliveredAt[seq] = clientMsgId;
    else if (first !== clientMsgId && times === 0) {
      this.mismatched++;
      this.example(`${conv}: ${user} received ${clientMsgId} as seq ${seq}, another participant got ${first}`);
    }
  }

  /** The seq up to which `user` has everything in `conv` (for `join` with `since`). */
  contiguous(conv: string, user: string): number {
    return this.convs.get(conv)?.receivers.get(user)?.contiguous ?? 0;
  }

  /** Deliveries still owed: acknowledged messages some participant has not received yet. */
  outstanding(): number {
    let n = 0;
    for (const c of this.convs.values()) {
      for (const r of c.receivers.values()) {
        if (r.contiguous >= c.maxAcked) continue;
        for (let s = r.contiguous + 1; s <= c.maxAcked; s++) if (c.ackedAt[s] !== undefined && !r.seen[s]) n++;
      }
    }
    return n;
  }

  result(): CheckResult {
    let lost = 0;
    let mismatched = this.mismatched;
    let acked = 0;
    let expected = 0;
    let receivedUnacked = 0;
    let participants = 0;
    for (const c of this.convs.values()) {
      acked += c.acks.size;
      participants += c.receivers.size;
      expected += c.acks.size * c.receivers.size;
      for (let s = 1; s < c.deliveredAt.length; s++) {
        const d = c.deliveredAt[s];
        const a = c.ackedAt[s];
        if (d === undefined) continue;
        if (a === undefined) receivedUnacked++;
        else if (a !== d) {
          mismatched++;
          this.example(`${c.id}: seq ${s} was acknowledged for ${a} but delivered as ${d}`);
        }
      }
      for (let s = 1; s <= c.maxAcked; s++) {
        if (c.ackedAt[s] === undefined) continue;
        for (const r of c.receivers.values()) {
          if (!r.seen[s]) {
            lost++;
            this.example(`${c.id}: ${r.user} never received acknowledged seq ${s}`);
          }
        }
      }
    }
    return {
      lost,
      duplicated: this.duplicated,
      outOfOrder: this.outOfOrder,
      mismatched,
      ackConflicts: this.ackConflicts,
      conversations: this.convs.size,
      participants,
      acked,
      expectedDeliveries: expected,
      received: this.received,
      receivedUnacked,
      examples: [...this.examples],
    };
  }
}

/** Adds up the results of several checkers (one per worker: each owns whole conversations). */
export function mergeResults(results: readonly CheckResult[]): CheckResult {
  const sum = (k: keyof Omit<CheckResult, 'examples'>) => results.reduce((n, r) => n + r[k], 0);
  return {
    lost: sum('lost'),
    duplicated: sum('duplicated'),
    outOfOrder: sum('outOfOrder'),
    mismatched: sum('mismatched'),
    ackConflicts: sum('ackConflicts'),
    conversations: sum('conversations'),
    participants: sum('participants'),
    acked: sum('acked'),
    expectedDeliveries: sum('expectedDeliveries'),
    received: sum('received'),
    receivedUnacked: sum('receivedUnacked'),
    examples: results.flatMap((r) => r.examples).slice(0, MAX_EXAMPLES),
  };
}

/** One line of an event stream (NDJSON), as `--events` writes it and `verify` reads it. */
export type CheckEvent =
  | { readonly ev: 'member'; readonly conv: string; readonly user: string }
  | { readonly ev: 'ack'; readonly conv: string; readonly clientMsgId: string; readonly seq: number }
  | {
      readonly ev: 'msg';
      readonly conv: string;
      readonly user: string;
      readonly seq: number;
      readonly clientMsgId: string;
    };

export function applyEvent(checker: DeliveryChecker, e: CheckEvent): void {
  switch (e.ev) {
    case 'member':
      return checker.member(e.conv, e.user);
    case 'ack':
      return checker.ack(e.conv, e.clientMsgId, e.seq);
    case 'msg':
      return checker.receive(e.conv, e.user, e.seq, e.clientMsgId);
  }
}

/** Parses and checks an NDJSON event stream; throws on a malformed line, naming it. */
export function checkEventStream(text: string): CheckResult {
  const checker = new DeliveryChecker();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not JSON`);
    }
    if (!isCheckEvent(e)) throw new Error(`line ${i + 1}: not a member, ack or msg event`);
    applyEvent(checker, e);
  }
  return checker.result();
}

function isCheckEvent(e: unknown): e is CheckEvent {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as Record<string, unknown>;
  const s = (k: string) => typeof o[k] === 'string';
  const n = (k: string) => typeof o[k] === 'number' && Number.isSafeInteger(o[k]) && (o[k] as number) > 0;
  if (o.ev === 'member') return s('conv') && s('user');
  if (o.ev === 'ack') return s('conv') && s('clientMsgId') && n('seq');
  if (o.ev === 'msg') return s('conv') && s('user') && s('clientMsgId') && n('seq');
  return false;
}
