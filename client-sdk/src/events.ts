/**
 * The typed events of the client and of each conversation, one context object per event, and the small emitter that
 * delivers them. A listener that throws does not stop delivery to the others or corrupt the client's state: the
 * error goes to `onListenerError` (default: `console.error`).
 */
import type { AppointmentStatus, ChatMessage, CrisisContact, Member, Role } from '@therapy-chat/protocol';
import type { Conversation } from './conversation.js';
import type { ChatError } from './errors.js';
import type { ConnectionState } from './state.js';
import type { OutboxEntry } from './outbox.js';

/** A message of a joined conversation, delivered once, in `seq` order. */
export interface MessageEvent {
  readonly conversation: Conversation;
  readonly message: ChatMessage;
  /** True when this client's user sent it (from this client or another device). */
  readonly own: boolean;
  /** True when it was sent before this join took effect (catch-up after `since`, or a gap filled from history). */
  readonly replayed: boolean;
}

export interface TypingEvent {
  readonly conversation: Conversation;
  readonly user: string;
  readonly role: Role;
  readonly active: boolean;
}

export interface PresenceEvent {
  readonly conversation: Conversation;
  /** Who is connected to the conversation right now. */
  readonly members: readonly Member[];
}

/**
 * For a therapist's or supervisor's console: a patient's message (`seq` of conversation `conv`) in case `caseId`
 * matched the risk screen. Carries no text and no patient identity. It reaches every connection of the case's
 * therapist and supervisor, joined to the conversation or not: `conversation` is there when this client has joined it
 * (and then the conversation emits it too); otherwise only the client does.
 */
export interface RiskAlertEvent {
  readonly conversation?: Conversation;
  readonly conv: string;
  readonly seq: number;
  readonly caseId: string;
  readonly level: 'high' | 'medium';
  readonly category: string;
  readonly ts: number;
}

/** For a patient app: show these now. Sent after a message of the patient's (`seq`) matched the risk screen. */
export interface CrisisResourcesEvent {
  readonly conversation: Conversation;
  readonly seq: number;
  readonly heading: string;
  readonly body: string;
  readonly contacts: readonly CrisisContact[];
}

/**
 * An appointment's transcript changed state: `scheduled` → `waiting` (the patient is in the waiting room) → `live`
 * (the therapist admitted them) → `ended` (closed for good), or `cancelled`. Also emitted after the first join.
 */
export interface AppointmentEvent {
  readonly conversation: Conversation;
  readonly appointmentId: string;
  readonly status: AppointmentStatus;
  /** When it took this status (for the notice after a join: the server's time then). */
  readonly ts: number;
}

export interface StateEvent {
  readonly previous: ConnectionState;
  readonly current: ConnectionState;
  /** Why, for logs and status lines. */
  readonly reason: string;
  /** The WebSocket close code, when a close caused the change. */
  readonly closeCode?: number;
  /** The error that caused the change, if any (for `closed`: why the client stopped). */
  readonly error?: ChatError;
  /** When `current` is `disconnected`: how long until the next attempt. */
  readonly retryInMs?: number;
}

export interface ErrorEvent {
  readonly error: ChatError;
  /** The conversation it concerns, if any. */
  readonly conversation?: Conversation;
}

/**
 * The server ended this conversation for this user because their access ended (discharge + 6 weeks, reassignment,
 * restriction): the conversation is left for good and not rejoined, and its unsent messages failed with
 * `ACCESS_REVOKED` (they are removed from the outbox: they can never be delivered).
 */
export interface RevokedEvent {
  readonly conversation: Conversation;
  /** `ACCESS_REVOKED`. */
  readonly error: ChatError;
}

/**
 * The server closed the connection with `LOGGED_OUT` (4005): the user logged out, or their login session was revoked,
 * here or on another device. The client is closed and does not reconnect; sign the user in again.
 */
export interface LoggedOutEvent {
  /** `LOGGED_OUT`, with `closeCode` 4005. */
  readonly error: ChatError;
}

/**
 * Messages saved in a persistent outbox by an earlier run of the app (before a reload or a restart) were restored to
 * the conversation's `pending` list; they go out in order once joined. Emitted when the outbox is read after the
 * conversation was opened (reading it is asynchronous); a conversation opened later has them in `pending` from the start.
 */
export interface RestoredEvent {
  readonly conversation: Conversation;
  readonly entries: readonly OutboxEntry[];
}

export interface ConversationEvents {
  message: MessageEvent;
  restored: RestoredEvent;
  revoked: RevokedEvent;
  typing: TypingEvent;
  presence: PresenceEvent;
  riskAlert: RiskAlertEvent;
  crisisResources: CrisisResourcesEvent;
  appointment: AppointmentEvent;
  error: ErrorEvent;
}

export interface ClientEvents extends ConversationEvents {
  state: StateEvent;
  loggedOut: LoggedOutEvent;
}

export type Listener<T> = (event: T) => void;

export type ListenerErrorHandler = (err: unknown, event: string) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: ListenerErrorHandler) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds a listener for the next event only. */
  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(event, (e) => {
      off();
      listener(e);
    });
    return off;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(value);
      } catch (err) {
        this.onListenerError(err, String(event));
      }
    }
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
