/**
 * One joined conversation: the delivery cursor (the last `seq` delivered to the app), the send queue backed by the
 * outbox, presence and typing.
 *
 * Delivery: a message is delivered only when its `seq` is the cursor + 1. Anything at or below the cursor is a
 * duplicate (a replay after a rejoin, a resent join) and is dropped; anything beyond it is held while the missing range
 * is fetched with `history`. After a reconnect the conversation rejoins with `since` = cursor, so the server replays
 * exactly what was missed.
 *
 * Sending: one message in flight per conversation, in the order `send()` was called. The server commits the frames of
 * a connection in arrival order, so with one in flight a refused or dropped frame can never let a later message
 * overtake it, and a resend after a drop (same `clientMsgId`) is stored once. The ack settles the message; so does
 * the server's echo of it, which arrives in a replay when the ack was lost with the connection.
 */
import type { AppointmentFrame, AppointmentStatus, CrisisResourcesFrame, RiskAlertFrame } from '@therapy-chat/protocol';
import {
  validateClientFrame,
  type AckFrame,
  type ChatMessage,
  type ErrorFrame,
  type HistoryPageFrame,
  type JoinedFrame,
  type Limits,
  type Member,
  type PresenceFrame,
  type Role,
  type ServerFrame,
  type TypingNoticeFrame,
} from '@therapy-chat/protocol';
import { ChatError } from './errors.js';
import { Emitter, type ConversationEvents, type Listener } from './events.js';
import type { Outbox, OutboxEntry } from './outbox.js';

/** What a conversation needs from its client. */
export interface ConversationHost {
  /** True once the current connection is authenticated. */
  connected(): boolean;
  /** The authenticated user, once known. */
  user(): string | undefined;
  /** The authenticated user's role, once known. */
  role(): Role | undefined;
  limits(): Limits;
  outbox(): Outbox;
  requestTimeoutMs(): number;
  nextId(): number;
  nextOrder(): number;
  /** Resolves once the outbox has been read (sends wait for it, so that restored messages go first). */
  ready(): Promise<void>;
  /** Counts a message sent again after an attempt that got no answer. */
  countResend(): void;
  newClientMsgId(): string;
  /** Sends a frame on the current connection (dropped when there is none). */
  write(frame: Readonly<Record<string, unknown>>, ephemeral?: boolean): void;
  /** Sends a request and resolves with its answer. Rejects with `DISCONNECTED` if the connection drops first. */
  request<T extends { type: string }>(frame: Readonly<Record<string, unknown>>): Promise<T>;
  /** `request` with a callback called synchronously with the answer (before the frames read after it). */
  issue(frame: Readonly<Record<string, unknown>>, settle: (outcome: ServerFrame | ChatError) => void): void;
  /** Forwards a conversation event to the client's listeners. */
  emit<K extends keyof ConversationEvents>(event: K, value: ConversationEvents[K]): void;
  /** The conversation is gone (left or refused): stop rejoining it. */
  forget(conversation: Conversation): void;
  /** The connection looks stuck: drop it and reconnect. */
  dropConnection(reason: string): void;
}

/** What `send()` resolves with: the message is durably stored under `seq`. */
export interface SendReceipt {
  readonly conv: string;
  readonly clientMsgId: string;
  readonly seq: number;
  readonly ts: number;
}

export interface SendOptions {
  /** Your own idempotency key (printable ASCII, at most 64 characters). Default: a random one. */
  readonly clientMsgId?: string;
}

export interface HistoryOptions {
  /** Only messages with `seq < before`. Default: the newest. */
  readonly before?: number;
  /** Most messages in the page, up to the server's `maxHistoryPage` (default 100). */
  readonly limit?: number;
}

export interface HistoryPage {
  /** Oldest first. */
  readonly messages: readonly ChatMessage[];
  /** True when older messages exist; ask again with `before: messages[0].seq`. */
  readonly hasMore: boolean;
}

export interface JoinOptions {
  /**
   * Deliver every message after this seq first (0: the whole conversation). Default: only messages sent from now on.
   * On reconnects the SDK always resumes from the last seq it delivered, whatever this was.
   */
  readonly since?: number;
}

interface QueuedSend {
  readonly entry: OutboxEntry;
  /** Times it was written to a connection. */
  attempts: number;
  saved: boolean;
  persisted: Promise<void>;
  readonly resolve?: (receipt: SendReceipt) => void;
  readonly reject?: (err: ChatError) => void;
}

type Status = 'idle' | 'joining' | 'joined' | 'gone';

/** Delay before resending after `UNAVAILABLE` or `INTERNAL`, doubling up to the max. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;
/** Typing `active: true` is repeated at most this often while the user keeps typing. */
const TYPING_REPEAT_MS = 3_000;

export class Conversation {
  private readonly events: Emitter<ConversationEvents>;
  private status: Status = 'idle';
  private cursor: number | undefined;
  private joinedLastSeq = 0;
  private closedForSending = false;
  private presence: readonly Member[] = [];
  private readonly queue: QueuedSend[] = [];
  private inFlight: { item: QueuedSend; ids: Set<number> } | undefined;
  /** After SHUTTING_DOWN: hold sends until the next connection. */
  private holdUntilReconnect = false;
  /** For an appointment's transcript: its status, as last heard. */
  private appointment: { readonly id: string; readonly status: AppointmentStatus } | undefined;
  /** After WAITING_ROOM: hold sends (in the outbox) until the appointment goes live. */
  private holdUntilLive = false;
  private retryDelay = RETRY_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly held = new Map<number, ChatMessage>();
  private filling = false;
  private typingSent: { active: boolean; at: number } | undefined;
  private joinWaiters: { resolve: () => void; reject: (err: ChatError) => void }[] = [];
  private goneError: ChatError | undefined;
  /** Resolves on the first `joined`, rejects if the first join is refused. */
  readonly ready: Promise<Conversation>;
  private settleReady!: { resolve: (c: Conversation) => void; reject: (err: ChatError) => void; done: boolean };

  constructor(
    readonly id: string,
    private readonly host: ConversationHost,
    private readonly since: number | undefined,
    restored: readonly OutboxEntry[],
    onListenerError: (err: unknown, event: string) => void,
  ) {
    this.events = new Emitter<ConversationEvents>(onListenerError);
    this.ready = new Promise<Conversation>((resolve, reject) => {
      this.settleReady = { resolve, reject, done: false };
    });
    // Nobody may await `ready` (the client's `join()` does); a refusal is reported through it and the error event.
    this.ready.catch(() => {});
    for (const entry of restored) this.queue.push({ entry, attempts: 0, saved: true, persisted: Promise.resolve() });
  }

  // ---------------------------------------------------------------- public API

  /** The last seq delivered to the app (0 before the first join answer when joining from the start). */
  get lastSeq(): number {
    return this.cursor ?? this.since ?? 0;
  }

  /** True while joined on the current connection. */
  get joined(): boolean {
    return this.status === 'joined';
  }

  /** True when the conversation accepts no new messages (its appointment has ended); it can still be read. */
  get closed(): boolean {
    return this.closedForSending;
  }

  /** For an appointment's transcript: its status as last heard (`scheduled`, `waiting`, `live`, `ended`, `cancelled`). */
  get appointmentStatus(): AppointmentStatus | undefined {
    return this.appointment?.status;
  }

  /**
   * True while the user waits in the appointment's waiting room: the appointment is not live yet, and this user is
   * its patient (or the server refused a message with `WAITING_ROOM`). Messages sent meanwhile wait in the outbox and
   * go out, in order, once the therapist admits the patient (an `appointment` event with status `live`).
   */
  get inWaitingRoom(): boolean {
    const s = this.appointment?.status;
    if (s === 'live' || s === 'ended' || s === 'cancelled') return false;
    return this.holdUntilLive || ((s === 'scheduled' || s === 'waiting') && this.host.role() === 'patient');
  }

  /**
   * Admits the waiting patient (the therapist of the case): the appointment goes live. Resolves with its status
   * (`live`, also when it already was); rejects with a `ChatError`: `APPOINTMENT_NOT_LIVE` (ended or cancelled),
   * `FORBIDDEN` (not the case's therapist), `NOT_FOUND` (not an appointment's transcript).
   */
  admit(): Promise<AppointmentStatus> {
    return this.transition('admit');
  }

  /**
   * Ends the live appointment (the therapist of the case): the transcript closes for good. Resolves with `ended`;
   * rejects with `APPOINTMENT_NOT_LIVE` when it is not live.
   */
  end(): Promise<AppointmentStatus> {
    return this.transition('end');
  }

  private async transition(type: 'admit' | 'end'): Promise<AppointmentStatus> {
    await this.whenJoined(Date.now() + this.host.requestTimeoutMs());
    const answer = await this.host.request<AppointmentFrame>({ type, conv: this.id });
    this.onAppointment(answer);
    return answer.status;
  }

  /** Who is connected to the conversation, as last reported by the server. */
  get members(): readonly Member[] {
    return this.presence;
  }

  /** Messages sent and not acknowledged yet, in sending order (for "sending…" marks in the UI). */
  get pending(): readonly OutboxEntry[] {
    return this.queue.map((q) => q.entry);
  }

  on<K extends keyof ConversationEvents>(event: K, listener: Listener<ConversationEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  once<K extends keyof ConversationEvents>(event: K, listener: Listener<ConversationEvents[K]>): () => void {
    return this.events.once(event, listener);
  }

  off<K extends keyof ConversationEvents>(event: K, listener: Listener<ConversationEvents[K]>): void {
    this.events.off(event, listener);
  }

  /**
   * Sends a message. It is saved in the outbox first, then sent (now, or after the next reconnect) until the server
   * acknowledges it; resends carry the same `clientMsgId`, so it is stored once. Resolves with the seq and time the
   * server stored it under; rejects with a `ChatError` when the server refuses it for good (for example
   * `CONVERSATION_CLOSED`, `FORBIDDEN`, `TEXT_TOO_LONG`), or with `LEFT` / `CLIENT_CLOSED`.
   */
  async send(text: string, options: SendOptions = {}): Promise<SendReceipt> {
    await this.host.ready();
    if (this.status === 'gone') throw this.goneError ?? new ChatError('LEFT', 'the conversation was left');
    const clientMsgId = options.clientMsgId ?? this.host.newClientMsgId();
    const check = validateClientFrame({ type: 'send', id: 0, conv: this.id, clientMsgId, text }, this.host.limits());
    if (!check.ok) throw new ChatError(check.code, check.message, { conv: this.id, clientMsgId });
    const entry: OutboxEntry = {
      conv: this.id,
      clientMsgId,
      text,
      createdAt: Date.now(),
      order: this.host.nextOrder(),
    };
    return new Promise<SendReceipt>((resolve, reject) => {
      const item: QueuedSend = { entry, attempts: 0, saved: false, persisted: Promise.resolve(), resolve, reject };
      this.queue.push(item);
      item.persisted = this.host
        .outbox()
        .add(entry)
        .then(
          () => {
            item.saved = true;
            this.pump();
          },
          (err: unknown) => {
            this.removeItem(item);
            reject(
              new ChatError('OUTBOX_FAILED', `the outbox could not save the message: ${String(err)}`, {
                conv: this.id,
                clientMsgId,
                cause: err,
              }),
            );
            this.pump();
          },
        );
    });
  }

  /** A page of older messages, oldest first. Waits for the conversation to be joined; retries across reconnects. */
  async history(options: HistoryOptions = {}): Promise<HistoryPage> {
    const deadline = Date.now() + this.host.requestTimeoutMs();
    for (;;) {
      await this.whenJoined(deadline);
      try {
        const page = await this.host.request<HistoryPageFrame>({
          type: 'history',
          conv: this.id,
          ...(options.before !== undefined && { before: options.before }),
          ...(options.limit !== undefined && { limit: options.limit }),
        });
        return { messages: page.messages, hasMore: page.hasMore };
      } catch (err) {
        if (err instanceof ChatError && err.code === 'DISCONNECTED' && Date.now() < deadline) continue;
        throw err;
      }
    }
  }

  /**
   * Tells the other side whether the user is typing. Cheap to call on every keystroke: repeats of `true` go out at
   * most every 3 s. Ephemeral: dropped while disconnected or under backlog.
   */
  typing(active: boolean): void {
    if (this.status !== 'joined' || !this.host.connected() || this.closedForSending) return;
    const now = Date.now();
    const last = this.typingSent;
    if (last && last.active === active && (!active || now - last.at < TYPING_REPEAT_MS)) return;
    this.typingSent = { active, at: now };
    this.host.write({ type: 'typing', conv: this.id, active }, true);
  }

  /**
   * Leaves the conversation: no more events, no more rejoining. Messages not yet acknowledged stay in the outbox
   * (they go out the next time it is joined); their `send()` promises reject with `LEFT`.
   */
  async leave(): Promise<void> {
    if (this.status === 'gone') return;
    const wasJoined = this.status === 'joined' && this.host.connected();
    this.goGone(new ChatError('LEFT', 'the conversation was left', { conv: this.id }), false);
    if (wasJoined) await this.host.request({ type: 'leave', conv: this.id }).catch(() => {});
  }

  // ---------------------------------------------------------------- from the client

  /** Messages found in the outbox at startup: they go out first, in their original order. */
  restore(entries: readonly OutboxEntry[]): void {
    if (this.status === 'gone') return;
    const known = new Set(this.queue.map((q) => q.entry.clientMsgId));
    const items = entries
      .filter((e) => !known.has(e.clientMsgId))
      .map((entry): QueuedSend => ({ entry, attempts: 0, saved: true, persisted: Promise.resolve() }));
    const start = this.inFlight ? 1 : 0;
    this.queue.splice(start, 0, ...items);
    if (items.length > 0) this.emitBoth('restored', { conversation: this, entries: items.map((i) => i.entry) });
    this.pump();
  }

  /** The connection is authenticated: (re)join, resuming after the cursor. */
  onConnected(): void {
    if (this.status === 'gone') return;
    this.status = 'joining';
    this.holdUntilReconnect = false;
    const since = this.cursor ?? this.since;
    this.host.issue({ type: 'join', conv: this.id, ...(since !== undefined && { since }) }, (outcome) => {
      if (outcome instanceof ChatError) this.onJoinFailed(outcome);
      else if (outcome.type === 'joined') this.onJoined(outcome);
    });
  }

  onDisconnected(): void {
    if (this.status === 'gone') return;
    this.status = 'idle';
    this.inFlight = undefined;
    this.holdUntilLive = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.held.clear();
    this.typingSent = undefined;
  }

  /** The client is closed for good. */
  onClientClosed(error: ChatError): void {
    this.goGone(error, false);
  }

  onMessage(message: ChatMessage): void {
    if (this.status === 'gone' || this.cursor === undefined) return;
    if (message.seq <= this.cursor) return;
    if (message.seq === this.cursor + 1) {
      this.deliver(message, message.seq <= this.joinedLastSeq);
      this.deliverHeld();
      return;
    }
    this.held.set(message.seq, message);
    void this.fillGap();
  }

  onAck(frame: AckFrame): void {
    const item = this.queue.find((q) => q.entry.clientMsgId === frame.clientMsgId);
    if (item) this.complete(item, { conv: this.id, clientMsgId: frame.clientMsgId, seq: frame.seq, ts: frame.ts });
  }

  /** An error frame about a send of this conversation; false when it is not about one. */
  onSendError(frame: ErrorFrame): boolean {
    const flight = this.inFlight;
    if (!flight) return false;
    const byMsgId =
      frame.clientMsgId !== undefined && frame.conv === this.id && frame.clientMsgId === flight.item.entry.clientMsgId;
    const byId = frame.id !== undefined && flight.ids.has(frame.id);
    if (!byMsgId && !byId) return false;
    const error = ChatError.fromFrame({ ...frame, conv: this.id, clientMsgId: flight.item.entry.clientMsgId });
    switch (frame.code) {
      case 'UNAVAILABLE':
      case 'INTERNAL':
        // Nothing was stored: send the same message again, after a growing pause.
        this.inFlight = undefined;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, this.retryDelay);
        this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
        return true;
      case 'SHUTTING_DOWN':
        // The server closes the connection next (1001); resend on the next one.
        this.inFlight = undefined;
        this.holdUntilReconnect = true;
        return true;
      case 'NOT_JOINED':
        this.inFlight = undefined;
        this.onConnected();
        return true;
      case 'WAITING_ROOM':
        // Not admitted yet: the message stays in the outbox and goes out once the appointment is live. (Frames
        // arrive in order, so a `live` heard before this refusal came after it was decided: send it again now.)
        this.inFlight = undefined;
        this.holdUntilLive = this.appointment?.status !== 'live';
        this.pump();
        return true;
      default:
        // Refused for good: this message will never be stored. Report it and go on with the next.
        if (frame.code === 'CONVERSATION_CLOSED') this.closedForSending = true;
        this.removeItem(flight.item);
        void flight.item.persisted
          .then(() => this.host.outbox().remove(this.id, flight.item.entry.clientMsgId))
          .catch(() => {});
        flight.item.reject?.(error);
        this.emitBoth('error', { error, conversation: this });
        this.pump();
        return true;
    }
  }

  /**
   * The server ended the subscription because access ended (`ACCESS_REVOKED`): leave for good, without rejoining;
   * unsent messages fail with that code and leave the outbox, since they can never be delivered.
   */
  onRevoked(frame: ErrorFrame): void {
    if (this.status === 'gone') return;
    const error = new ChatError('ACCESS_REVOKED', frame.message, { conv: this.id });
    this.goGone(error, true);
    this.emitBoth('revoked', { conversation: this, error });
  }

  /** The server dropped a frame for going too fast without saying which: resend the one in flight (idempotent). */
  onRateLimited(): void {
    const flight = this.inFlight;
    if (!flight) return;
    const id = this.host.nextId();
    flight.ids.add(id);
    this.writeSend(flight.item, id);
  }

  onTyping(frame: TypingNoticeFrame): void {
    if (this.status === 'gone') return;
    this.emitBoth('typing', { conversation: this, user: frame.user, role: frame.role, active: frame.active });
  }

  onRiskAlert(frame: RiskAlertFrame): void {
    if (this.status === 'gone') return;
    const { conv, seq, caseId, level, category, ts } = frame;
    this.emitBoth('riskAlert', { conversation: this, conv, seq, caseId, level, category, ts });
  }

  /** The appointment of this transcript changed state (or the server said where it stands after a join). */
  onAppointment(frame: AppointmentFrame): void {
    if (this.status === 'gone') return;
    const { appointmentId, status, ts } = frame;
    const before = this.appointment?.status;
    this.appointment = { id: appointmentId, status };
    if (status === 'ended' || status === 'cancelled') this.closedForSending = true;
    if (status !== 'scheduled' && status !== 'waiting' && this.holdUntilLive) {
      // Admitted: the held messages go out. Ended or cancelled: they are sent, refused, and reported so.
      this.holdUntilLive = false;
      this.pump();
    }
    if (before !== status) this.emitBoth('appointment', { conversation: this, appointmentId, status, ts });
  }

  onCrisisResources(frame: CrisisResourcesFrame): void {
    if (this.status === 'gone') return;
    const { seq, heading, body, contacts } = frame;
    this.emitBoth('crisisResources', { conversation: this, seq, heading, body, contacts });
  }

  onPresence(frame: PresenceFrame): void {
    if (this.status === 'gone') return;
    this.presence = frame.members;
    this.emitBoth('presence', { conversation: this, members: frame.members });
  }

  // ---------------------------------------------------------------- internals

  private onJoined(frame: JoinedFrame): void {
    if (this.status === 'gone') return;
    this.cursor ??= this.since ?? frame.lastSeq;
    this.joinedLastSeq = frame.lastSeq;
    this.closedForSending = frame.closed;
    if (frame.appointmentStatus === 'live') this.holdUntilLive = false;
    this.status = 'joined';
    this.retryDelay = RETRY_MIN_MS;
    if (!this.settleReady.done) {
      this.settleReady.done = true;
      this.settleReady.resolve(this);
    }
    for (const w of this.joinWaiters.splice(0)) w.resolve();
    this.pump();
  }

  private onJoinFailed(error: ChatError): void {
    if (this.status === 'gone') return;
    if (error.code === 'DISCONNECTED') return; // rejoined on the next connection
    if (error.code === 'TIMEOUT') return this.host.dropConnection(`join of ${this.id} got no answer`);
    // Refused (FORBIDDEN, NOT_FOUND, TOO_MANY_CONVERSATIONS, …): stop trying. Messages that can never be delivered
    // leave the outbox; others stay for a later join.
    const permanent = error.code === 'FORBIDDEN' || error.code === 'NOT_FOUND';
    const err = new ChatError(error.code, error.message, { conv: this.id });
    this.goGone(err, permanent);
    this.emitBoth('error', { error: err, conversation: this });
  }

  private goGone(error: ChatError, dropOutbox: boolean): void {
    if (this.status === 'gone') return;
    this.status = 'gone';
    this.goneError = error;
    clearTimeout(this.retryTimer);
    this.inFlight = undefined;
    this.host.forget(this);
    if (!this.settleReady.done) {
      this.settleReady.done = true;
      this.settleReady.reject(error);
    }
    for (const w of this.joinWaiters.splice(0)) w.reject(error);
    for (const item of this.queue.splice(0)) {
      if (dropOutbox)
        void item.persisted.then(() => this.host.outbox().remove(this.id, item.entry.clientMsgId)).catch(() => {});
      item.reject?.(new ChatError(error.code, error.message, { conv: this.id, clientMsgId: item.entry.clientMsgId }));
    }
  }

  private whenJoined(deadline: number): Promise<void> {
    if (this.status === 'joined') return Promise.resolve();
    if (this.status === 'gone')
      return Promise.reject(this.goneError ?? new ChatError('LEFT', 'the conversation was left'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.joinWaiters = this.joinWaiters.filter((w) => w !== waiter);
          reject(
            new ChatError('TIMEOUT', `not joined to ${this.id} within ${this.host.requestTimeoutMs()} ms`, {
              conv: this.id,
            }),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      const waiter = {
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err: ChatError) => (clearTimeout(timer), reject(err)),
      };
      this.joinWaiters.push(waiter);
    });
  }

  private deliver(message: ChatMessage, replayed: boolean): void {
    this.cursor = message.seq;
    const own = message.from === this.host.user();
    if (own) {
      // The server has it: settle the matching send even if its ack was lost with a connection.
      const item = this.queue.find((q) => q.entry.clientMsgId === message.clientMsgId);
      if (item)
        this.complete(item, { conv: this.id, clientMsgId: message.clientMsgId, seq: message.seq, ts: message.ts });
    }
    this.emitBoth('message', { conversation: this, message, own, replayed });
  }

  private deliverHeld(): void {
    for (let next = this.held.get(this.cursor! + 1); next; next = this.held.get(this.cursor! + 1)) {
      this.held.delete(next.seq);
      this.deliver(next, next.seq <= this.joinedLastSeq);
    }
    for (const seq of this.held.keys()) if (seq <= this.cursor!) this.held.delete(seq);
  }

  /** Fetches the messages between the cursor and the first held one, oldest page first. */
  private async fillGap(): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      while (this.status === 'joined' && this.held.size > 0 && this.cursor !== undefined) {
        const firstHeld = Math.min(...this.held.keys());
        if (firstHeld <= this.cursor + 1) {
          this.deliverHeld();
          continue;
        }
        const limit = Math.min(firstHeld - this.cursor - 1, this.host.limits().maxHistoryPage);
        const page = await this.host.request<HistoryPageFrame>({
          type: 'history',
          conv: this.id,
          before: this.cursor + 1 + limit,
          limit,
        });
        if (this.status !== 'joined') return;
        let progressed = false;
        for (const m of page.messages) {
          if (m.seq === this.cursor + 1) {
            this.deliver(m, true);
            progressed = true;
          }
        }
        this.deliverHeld();
        if (!progressed)
          return this.host.dropConnection(`history did not fill the gap after seq ${this.cursor} in ${this.id}`);
      }
    } catch {
      // Disconnected: the rejoin with `since` replays the gap.
    } finally {
      this.filling = false;
    }
  }

  private pump(): void {
    if (
      this.status !== 'joined' ||
      !this.host.connected() ||
      this.inFlight ||
      this.retryTimer ||
      this.holdUntilReconnect ||
      this.holdUntilLive
    )
      return;
    const item = this.queue[0];
    if (!item || !item.saved) return; // an unsaved head is sent once its save completes (send() calls pump)
    const id = this.host.nextId();
    this.inFlight = { item, ids: new Set([id]) };
    this.writeSend(item, id);
  }

  private writeSend(item: QueuedSend, id: number): void {
    if (item.attempts++ > 0) this.host.countResend();
    const { conv, clientMsgId, text } = item.entry;
    this.host.write({ type: 'send', id, conv, clientMsgId, text });
  }

  private complete(item: QueuedSend, receipt: SendReceipt): void {
    if (!this.removeItem(item)) return;
    if (this.inFlight?.item === item) this.inFlight = undefined;
    this.retryDelay = RETRY_MIN_MS;
    void item.persisted.then(() => this.host.outbox().remove(this.id, item.entry.clientMsgId)).catch(() => {});
    item.resolve?.(receipt);
    this.pump();
  }

  private removeItem(item: QueuedSend): boolean {
    const i = this.queue.indexOf(item);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  private emitBoth<K extends keyof ConversationEvents>(event: K, value: ConversationEvents[K]): void {
    this.events.emit(event, value);
    this.host.emit(event, value);
  }
}
