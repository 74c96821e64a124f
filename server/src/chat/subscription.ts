/**
 * One connection's membership of one conversation, and its delivery cursor: the last seq sent to the client.
 * Whatever arrives from the bus is held against that cursor: already sent → dropped, next → sent, beyond a gap →
 * the gap is filled from the store first. Replays after `join` with `since` use the same path. So a message lost by
 * the bus, or committed while a replay was running, is delivered once and in order all the same.
 */
import type { ChatMessage } from '@therapy-chat/protocol';
import {
  decide,
  type Actor,
  type CaseAccess,
  type ConversationAction,
  type Decision,
} from '../policy/access-policy.js';
import { type ConversationInfo, type StoredMessage, StoreUnavailableError } from '../store/store.js';
import { OutboundFrame } from './outbound.js';

/** What a subscription needs from its connection and the server. */
export interface SubscriptionHost {
  readonly connectionId: string;
  readonly userId: string;
  /** Sends a frame; returns false when the connection is closed or closing. */
  write(frame: OutboundFrame): boolean;
  /** True when the connection's outbound queue is too full to add replayed messages to it. */
  backlogged(): boolean;
  /** Resolves when the connection's outbound queue is low enough to send replayed messages again. */
  writable(): Promise<void>;
  readPage(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  decrypt(message: StoredMessage): ChatMessage;
  /** A catch-up failed for good: the connection should close so the client reconnects and resumes. */
  fail(err: unknown): void;
}

export const REPLAY_PAGE = 200;
/** How often a catch-up may find the store behind the bus before giving up (a store replica lagging). */
const MAX_STALLS = 50;
const STALL_WAIT_MS = 20;

interface Offered {
  readonly seq: number;
  readonly frame: OutboundFrame;
}

export class Subscription {
  private delivered = 0;
  /** The highest seq offered so far (sent or held); a later offer at or below it adds nothing. */
  private offered = 0;
  /** Live messages held while a catch-up runs; null when live. */
  private pending: Offered[] | null = [];
  private closed = false;

  /**
   * `info` and `access` are what the subscription knows of its conversation and case: every frame is decided on
   * them without a store read, and an access change (`AccessWatch`) replaces them.
   */
  constructor(
    private readonly host: SubscriptionHost,
    public info: ConversationInfo,
    public access: CaseAccess,
  ) {}

  /** Decides an action on this conversation now, from what the subscription knows. */
  decide(actor: Actor, action: ConversationAction, now: number): Decision {
    return decide(actor, action, { case: this.access, conversation: this.info }, now);
  }

  /** New facts about the conversation and its case, after an access change. */
  refresh(info: ConversationInfo, access: CaseAccess): void {
    this.info = info;
    this.access = access;
  }

  get conv(): string {
    return this.info.id;
  }

  get connectionId(): string {
    return this.host.connectionId;
  }

  get userId(): string {
    return this.host.userId;
  }

  get lastDelivered(): number {
    return this.delivered;
  }

  /**
   * Starts delivering after `after`, the seq the client already has: replays from the store, then goes live.
   * Until then, messages from the bus are held.
   */
  start(after: number): void {
    this.delivered = after;
    void this.catchUp();
  }

  close(): void {
    this.closed = true;
    this.pending = null;
  }

  /**
   * The bus may have lost messages (it reconnected): look in the store for anything after the cursor. A catch-up
   * already running reads the store again before it goes live, so it needs nothing more.
   */
  resync(): void {
    if (this.closed || this.pending) return;
    this.pending = [];
    void this.catchUp();
  }

  /** Whether an offer of `seq` could still deliver something (so it is worth decrypting). */
  wants(seq: number): boolean {
    return !this.closed && seq > this.delivered && seq > this.offered;
  }

  /** A committed message of this conversation, from this node's commit or from the bus. */
  offer(seq: number, frame: OutboundFrame): void {
    if (this.closed) return;
    if (seq > this.offered) this.offered = seq;
    if (this.pending) {
      this.pending.push({ seq, frame });
      return;
    }
    if (seq <= this.delivered) return;
    if (seq === this.delivered + 1) {
      this.send(seq, frame);
      return;
    }
    this.pending = [{ seq, frame }];
    void this.catchUp();
  }

  /** Sends a message; false when the connection is gone. */
  private send(seq: number, frame: OutboundFrame): boolean {
    if (!this.host.write(frame)) {
      this.close();
      return false;
    }
    this.delivered = seq;
    return true;
  }

  /** Reads the next page, waiting out a store that is briefly unavailable rather than dropping the client. */
  private async readPage(): Promise<StoredMessage[]> {
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await this.host.readPage(this.conv, this.delivered, REPLAY_PAGE);
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || this.closed) throw err;
        await new Promise((r) => setTimeout(r, wait));
        if (this.closed) return [];
      }
    }
  }

  private async catchUp(): Promise<void> {
    let stalls = 0;
    try {
      while (!this.closed) {
        const page = await this.readPage();
        if (this.closed) return;
        for (const stored of page) {
          if (stored.seq <= this.delivered) continue;
          if (stored.seq !== this.delivered + 1)
            throw new Error(`store returned seq ${stored.seq} after ${this.delivered}`);
          // Replay at the pace the client reads, so a long history never trips the slow-consumer cap.
          if (this.host.backlogged()) {
            await this.host.writable();
            if (this.closed) return;
          }
          const message = this.host.decrypt(stored);
          if (!this.send(stored.seq, new OutboundFrame({ type: 'msg', ...message }))) return;
        }
        if (page.length === REPLAY_PAGE) continue;
        // The store has nothing after the cursor (as of that read). Deliver what the bus brought meanwhile.
        const held = (this.pending ?? []).sort((a, b) => a.seq - b.seq);
        let i = 0;
        for (; i < held.length; i++) {
          const h = held[i]!;
          if (h.seq <= this.delivered) continue;
          if (h.seq !== this.delivered + 1) break;
          if (!this.send(h.seq, h.frame)) return;
        }
        if (i === held.length) {
          this.pending = null;
          return;
        }
        // A held message lies beyond a gap the store did not show yet: read again, a little later if nothing moved.
        this.pending = held.slice(i);
        if (page.length === 0 && ++stalls > MAX_STALLS) {
          throw new Error(`the store does not have seq ${this.delivered + 1} of ${this.conv} that the bus announced`);
        }
        if (page.length === 0) await new Promise((r) => setTimeout(r, STALL_WAIT_MS));
      }
    } catch (err) {
      if (!this.closed) {
        this.close();
        this.host.fail(err);
      }
    }
  }
}
