/**
 * The client: owns the connection state machine, the one disconnect path, reconnects with backoff, the token, and
 * routes server frames to conversations. Everything else lives beside it: `state.ts`, `backoff.ts`, `transport.ts`,
 * `pacer.ts` (flow control), `requests.ts`, `heartbeat.ts`, `conversation.ts` (delivery and sending), `outbox*.ts`.
 */
import {
  closeAction,
  codecFor,
  DEFAULT_LIMITS,
  isSubprotocol,
  JSON_SUBPROTOCOL,
  MSGPACK_SUBPROTOCOL,
  newClientMsgId,
  type ChatMessage,
  type CloseAction,
  type Codec,
  type ErrorFrame,
  type Limits,
  type MessageFrame,
  type Role,
  type ServerFrame,
  type WelcomeFrame,
} from '@therapy-chat/protocol';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Conversation, type ConversationHost, type JoinOptions } from './conversation.js';
import { ChatError } from './errors.js';
import { Emitter, type ClientEvents, type Listener, type ListenerErrorHandler, type StateEvent } from './events.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { MemoryOutbox } from './outbox-memory.js';
import { sortOutbox, type Outbox, type OutboxEntry } from './outbox.js';
import { Pacer } from './pacer.js';
import { Requests } from './requests.js';
import { StateMachine, type ConnectionState } from './state.js';
import {
  webSocketTransport,
  type Transport,
  type TransportFactory,
  type WebSocketConstructorLike,
} from './transport.js';

export interface ClientOptions {
  /** The server's WebSocket URL, for example `wss://chat.example.org/ws`. */
  readonly url: string;
  /**
   * Returns a token (a JWT from your backend). Called for the first connection, again shortly before the token expires
   * (see `tokenRefreshMarginMs`), and whenever the server says it has expired. May return a promise.
   */
  readonly getToken: () => string | Promise<string>;
  /** Wire encoding. Default `msgpack`; `json` is easier to read in browser dev tools. */
  readonly codec?: 'msgpack' | 'json';
  /** Where unacknowledged messages wait. Default: `new MemoryOutbox()`. */
  readonly outbox?: Outbox;
  /** The WebSocket implementation. Default: the global `WebSocket` (the Node entry point passes `ws`). */
  readonly WebSocket?: WebSocketConstructorLike;
  /** Replaces the WebSocket transport altogether (tests, other transports). */
  readonly transport?: TransportFactory;
  /** Reconnect delays. Defaults: min 250 ms, max 10 s, unlimited attempts. */
  readonly backoff?: BackoffOptions;
  /** Dead-connection detection. Default grace 1,000 ms on top of two heartbeat intervals. */
  readonly heartbeat?: HeartbeatOptions;
  /** Longest wait for the answer to a join, leave or history request. Default 20,000 ms. */
  readonly requestTimeoutMs?: number;
  /** Longest wait from opening a socket to the server's `welcome`. Default 15,000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Ask for a fresh token this long before the current one expires (at most half its remaining lifetime).
   * Default 30,000 ms.
   */
  readonly tokenRefreshMarginMs?: number;
  /** Pace outbound frames below the server's rate limit. Default true; turning it off relies on `RATE_LIMITED` alone. */
  readonly pace?: boolean;
  /** Called when an event listener throws. Default: `console.error`. */
  readonly onListenerError?: ListenerErrorHandler;
}

/** Who this connection is authenticated as, from the server's `welcome`. */
export interface SessionInfo {
  readonly user: string;
  readonly role: Role;
  readonly connectionId: string;
  readonly expiresAt: number;
  readonly heartbeatMs: number;
  readonly limits: Limits;
}

/** Counters for telemetry and tests. */
export interface ClientStats {
  /** Connections that reached `connected`. */
  readonly connects: number;
  /** Connections lost (any cause but `close()`). */
  readonly drops: number;
  /** `RATE_LIMITED` answers received. */
  readonly rateLimited: number;
  /** Calls to `getToken()`. */
  readonly tokenRequests: number;
  /** Messages sent again (same `clientMsgId`) because their first attempt got no answer. */
  readonly resends: number;
}

interface Link {
  readonly transport: Transport;
  codec: Codec;
  readonly pacer: Pacer;
  heartbeat: Heartbeat | undefined;
  welcomed: boolean;
  /** The error frame that answered the handshake, reported when the close that follows arrives. */
  handshakeError: ChatError | undefined;
}

interface Drop {
  readonly reason: string;
  readonly action: CloseAction;
  readonly closeCode?: number;
  readonly error?: ChatError;
}

interface TokenState {
  readonly value: string;
  stale: boolean;
  expiresAt?: number;
  /** When to ask for the next one. */
  refreshAt?: number;
}

type StateDetails = Omit<StateEvent, 'previous' | 'current'>;

export class ChatClient {
  private readonly options: ClientOptions;
  private readonly events: Emitter<ClientEvents>;
  private readonly onListenerError: ListenerErrorHandler;
  private readonly machine: StateMachine<StateDetails>;
  private readonly backoff: Backoff;
  private readonly requests = new Requests();
  private readonly conversations = new Map<string, Conversation>();
  private readonly transportFactory: TransportFactory;
  private readonly outbox: Outbox;
  private readonly outboxReady: Promise<void>;
  private restored = new Map<string, OutboxEntry[]>();
  private order = 0;
  private link: Link | undefined;
  private sessionInfo: SessionInfo | undefined;
  private token: TokenState | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every open and drop, so that late callbacks of an older attempt do nothing. */
  private generation = 0;
  private connectWaiters: { resolve: () => void; reject: (err: ChatError) => void }[] = [];
  private closedError: ChatError | undefined;
  private readonly counters = { connects: 0, drops: 0, rateLimited: 0, tokenRequests: 0, resends: 0 };

  constructor(options: ClientOptions) {
    this.options = options;
    this.onListenerError =
      options.onListenerError ?? ((err, event) => console.error(`therapy-chat: a "${event}" listener threw`, err));
    this.events = new Emitter<ClientEvents>(this.onListenerError);
    this.machine = new StateMachine<StateDetails>((previous, current, details) =>
      this.events.emit('state', { previous, current, ...details }),
    );
    this.backoff = new Backoff(options.backoff);
    this.transportFactory = options.transport ?? webSocketTransport(options.WebSocket);
    this.outbox = options.outbox ?? new MemoryOutbox();
    this.outboxReady = this.outbox.load().then(
      (entries) => {
        for (const entry of sortOutbox(entries)) {
          this.order = Math.max(this.order, entry.order);
          const list = this.restored.get(entry.conv) ?? [];
          list.push(entry);
          this.restored.set(entry.conv, list);
        }
        // Conversations opened before the outbox was read get their entries now, ahead of anything sent since.
        for (const [conv, list] of this.restored) {
          const conversation = this.conversations.get(conv);
          if (!conversation) continue;
          conversation.restore(list);
          this.restored.delete(conv);
        }
      },
      (err: unknown) => {
        this.events.emit('error', {
          error: new ChatError('OUTBOX_FAILED', `the outbox could not be read: ${String(err)}`, { cause: err }),
        });
      },
    );
  }

  // ---------------------------------------------------------------- public API

  get state(): ConnectionState {
    return this.machine.state;
  }

  /** The authenticated session, once connected (kept while reconnecting). */
  get session(): SessionInfo | undefined {
    return this.sessionInfo;
  }

  get stats(): ClientStats {
    return { ...this.counters };
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.events.on(event, listener);
  }

  once<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): () => void {
    return this.events.once(event, listener);
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): void {
    this.events.off(event, listener);
  }

  /**
   * Connects, and keeps reconnecting after drops until `close()` or a terminal close code. Resolves once connected;
   * rejects with a `ChatError` if the client closes first (bad token, forbidden account, `close()`).
   */
  connect(): Promise<void> {
    if (this.machine.state === 'closed') {
      return Promise.reject(this.closedError ?? new ChatError('CLIENT_CLOSED', 'the client is closed'));
    }
    if (this.machine.state === 'connected') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (this.machine.state === 'disconnected' && this.reconnectTimer === undefined) void this.open('connect() called');
    return promise;
  }

  /**
   * Joins a conversation (now, or as soon as connected) and keeps it joined across reconnects. Resolves once the
   * server has accepted the join; rejects with `FORBIDDEN`, `NOT_FOUND`, `TOO_MANY_CONVERSATIONS`… without retrying.
   * Starts connecting if `connect()` was not called. Same as `conversation(conv, options).ready`.
   */
  join(conv: string, options: JoinOptions = {}): Promise<Conversation> {
    if (this.machine.state === 'closed') {
      return Promise.reject(this.closedError ?? new ChatError('CLIENT_CLOSED', 'the client is closed'));
    }
    return this.conversation(conv, options).ready;
  }

  /**
   * The handle of a conversation, at once, even offline: it is joined in the background (now, or when connected) and
   * `send()` works straight away (messages wait in the outbox). `options` count only on first use. Starts connecting
   * if `connect()` was not called.
   */
  conversation(conv: string, options: JoinOptions = {}): Conversation {
    let conversation = this.conversations.get(conv);
    if (conversation) return conversation;
    conversation = new Conversation(
      conv,
      this.host,
      options.since,
      this.restored.get(conv) ?? [],
      this.onListenerError,
    );
    this.restored.delete(conv);
    this.conversations.set(conv, conversation);
    if (this.machine.state === 'closed') {
      conversation.onClientClosed(this.closedError ?? new ChatError('CLIENT_CLOSED', 'the client is closed'));
    } else if (this.link?.welcomed) {
      conversation.onConnected();
    } else if (this.machine.state === 'disconnected' && this.reconnectTimer === undefined) {
      this.connect().catch(() => {});
    }
    return conversation;
  }

  /** The conversations joined (or being joined) now. */
  get joined(): readonly Conversation[] {
    return [...this.conversations.values()];
  }

  /**
   * Closes the connection for good. Pending `send()`s reject with `CLIENT_CLOSED`; their messages stay in the outbox
   * (a durable outbox sends them after the next start).
   */
  async close(): Promise<void> {
    if (this.machine.state === 'closed') return;
    this.finish('close() called', new ChatError('CLIENT_CLOSED', 'the client was closed'), true);
  }

  // ---------------------------------------------------------------- connecting

  private async open(reason: string): Promise<void> {
    this.machine.set('connecting', { reason });
    const generation = ++this.generation;
    let token: string;
    try {
      token = await this.currentToken();
    } catch (err) {
      if (generation !== this.generation) return;
      const error =
        err instanceof ChatError
          ? err
          : new ChatError('TOKEN_PROVIDER_FAILED', `getToken() failed: ${String(err)}`, { cause: err });
      return this.drop({ reason: 'no token', action: 'reconnect', error });
    }
    if (generation !== this.generation) return;
    const requested = codecFor(this.options.codec === 'json' ? JSON_SUBPROTOCOL : MSGPACK_SUBPROTOCOL);
    let transport: Transport;
    const link = { codec: requested, heartbeat: undefined, welcomed: false, handshakeError: undefined } as Omit<
      Link,
      'transport' | 'pacer'
    > as Link;
    try {
      transport = this.transportFactory(this.options.url, [requested.subprotocol], {
        open: (protocol) => {
          if (this.link !== link) return;
          if (isSubprotocol(protocol)) link.codec = codecFor(protocol);
          this.handshake(link, token);
        },
        message: (data) => {
          if (this.link === link) this.onData(link, data);
        },
        close: (code, why) => {
          if (this.link !== link) return;
          const action = closeAction(code);
          // The error frame that came before the close says more than the close code; plain drops are no error.
          const shown = link.handshakeError;
          const error = shown
            ? new ChatError(shown.code, shown.message, { closeCode: code })
            : action === 'reconnect'
              ? undefined
              : ChatError.fromClose(code, why);
          this.drop({ reason: why || `closed with code ${code}`, action, closeCode: code, ...(error && { error }) });
        },
      });
    } catch (err) {
      // No WebSocket implementation, or a URL the WebSocket constructor refuses: nothing a retry would change.
      return this.finish(
        'cannot open a WebSocket',
        new ChatError('CONNECTION_CLOSED', String(err), { cause: err }),
        false,
      );
    }
    Object.assign(link, {
      transport,
      pacer: new Pacer((data) => transport.send(data), DEFAULT_LIMITS, this.options.pace ?? true),
    });
    this.link = link;
    this.connectTimer = setTimeout(
      () => this.drop({ reason: 'no welcome from the server in time', action: 'reconnect' }),
      this.options.connectTimeoutMs ?? 15_000,
    );
  }

  private handshake(link: Link, token: string): void {
    this.requests
      .request<WelcomeFrame>({ type: 'auth', token }, (frame) => this.writeOn(link, frame), 0)
      .then(
        (welcome) => {
          if (this.link === link) this.onWelcome(link, welcome);
        },
        (err: unknown) => {
          // The server closes the connection next (4001 or 4101); the close decides what happens.
          if (this.link === link && err instanceof ChatError && err.code !== 'DISCONNECTED') link.handshakeError = err;
        },
      );
  }

  private onWelcome(link: Link, welcome: WelcomeFrame): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    link.welcomed = true;
    this.sessionInfo = {
      user: welcome.user,
      role: welcome.role,
      connectionId: welcome.connectionId,
      expiresAt: welcome.expiresAt,
      heartbeatMs: welcome.heartbeatMs,
      limits: welcome.limits,
    };
    this.tokenAccepted(welcome.expiresAt);
    link.pacer.setLimits(welcome.limits);
    link.heartbeat = new Heartbeat(
      welcome.heartbeatMs,
      this.options.heartbeat?.graceMs ?? 1_000,
      () => this.writeOn(link, { type: 'ping' }),
      (silent) => {
        if (this.link === link)
          this.drop({ reason: `nothing heard from the server for ${silent} ms`, action: 'reconnect' });
      },
    );
    this.backoff.reset();
    this.counters.connects++;
    this.machine.set('connected', { reason: 'welcome' });
    for (const w of this.connectWaiters.splice(0)) w.resolve();
    for (const conversation of this.conversations.values()) conversation.onConnected();
  }

  /** The one disconnect path: every lost connection, whatever the cause, comes through here. */
  private drop(cause: Drop): void {
    if (this.machine.state === 'closed') return;
    this.generation++;
    this.teardown(false);
    this.counters.drops++;
    if (cause.action === 'stop') {
      return this.finish(
        cause.reason,
        cause.error ?? new ChatError('CONNECTION_CLOSED', cause.reason, { closeCode: cause.closeCode }),
        false,
        cause.closeCode,
      );
    }
    if (cause.action === 'refresh-token' && this.token) this.token.stale = true;
    if (this.backoff.exhausted) {
      return this.finish(
        'gave up reconnecting',
        new ChatError('RECONNECT_GAVE_UP', `${this.backoff.attempt} connection attempts in a row failed`, {
          cause: cause.error,
        }),
        false,
      );
    }
    const wait = this.backoff.next();
    // A token that expired is no reason to wait: get a new one and come straight back (once; then back off).
    const delay = cause.action === 'refresh-token' && this.backoff.attempt === 1 ? 0 : wait;
    if (cause.error) this.events.emit('error', { error: cause.error });
    this.machine.set('disconnected', {
      reason: cause.reason,
      ...(cause.closeCode !== undefined && { closeCode: cause.closeCode }),
      ...(cause.error && { error: cause.error }),
      retryInMs: delay,
    });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.machine.state === 'disconnected') void this.open('reconnecting');
    }, delay);
  }

  /** Terminal: the `closed` state. */
  private finish(reason: string, error: ChatError, graceful: boolean, closeCode?: number): void {
    if (this.machine.state === 'closed') return;
    this.generation++;
    this.teardown(graceful);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.closedError = error;
    this.requests.failAll(error);
    for (const conversation of [...this.conversations.values()]) conversation.onClientClosed(error);
    const userClosed = error.code === 'CLIENT_CLOSED';
    if (!userClosed) this.events.emit('error', { error });
    if (error.code === 'LOGGED_OUT') this.events.emit('loggedOut', { error });
    this.machine.set('closed', {
      reason,
      ...(closeCode !== undefined && { closeCode }),
      ...(!userClosed && { error }),
    });
    for (const w of this.connectWaiters.splice(0)) w.reject(error);
  }

  /** Lets go of the current connection and everything tied to it. */
  private teardown(graceful: boolean): void {
    const link = this.link;
    this.link = undefined;
    clearTimeout(this.connectTimer);
    clearTimeout(this.refreshTimer);
    this.connectTimer = this.refreshTimer = undefined;
    if (link) {
      link.pacer.stop();
      link.heartbeat?.stop();
      if (graceful) link.transport.close(1000, 'client closed');
      else link.transport.terminate();
    }
    this.requests.failAll(new ChatError('DISCONNECTED', 'the connection dropped'));
    for (const conversation of this.conversations.values()) conversation.onDisconnected();
  }

  // ---------------------------------------------------------------- the token

  private async currentToken(): Promise<string> {
    const t = this.token;
    if (t && !t.stale && (t.refreshAt === undefined || Date.now() < t.refreshAt)) return t.value;
    return this.fetchToken();
  }

  private async fetchToken(): Promise<string> {
    this.counters.tokenRequests++;
    const value = await this.options.getToken();
    if (typeof value !== 'string' || value.length === 0) {
      throw new ChatError('TOKEN_PROVIDER_FAILED', 'getToken() returned no token');
    }
    if (this.token?.value !== value) this.token = { value, stale: false };
    return value;
  }

  /** The server accepted the current token until `expiresAt`: plan its refresh. */
  private tokenAccepted(expiresAt: number): void {
    const t = this.token;
    if (!t) return;
    const now = Date.now();
    const remaining = expiresAt - now;
    t.stale = false;
    t.expiresAt = expiresAt;
    t.refreshAt = expiresAt - Math.min(this.options.tokenRefreshMarginMs ?? 30_000, remaining / 2);
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.min(Math.max(0, t.refreshAt - now), 2 ** 31 - 1));
  }

  /** Before expiry: a fresh token, sent on the open connection (no reconnect). */
  private async refresh(): Promise<void> {
    const link = this.link;
    if (!link?.welcomed) return;
    const old = this.token;
    let value: string;
    try {
      value = await this.fetchToken();
    } catch (err) {
      const error =
        err instanceof ChatError
          ? err
          : new ChatError('TOKEN_PROVIDER_FAILED', `getToken() failed: ${String(err)}`, { cause: err });
      this.events.emit('error', { error });
      return this.retryRefresh(link);
    }
    // The provider has nothing newer: the server closes with 4101 at expiry and the reconnect asks again.
    if (value === old?.value || this.link !== link) return;
    try {
      const welcome = await this.requests.request<WelcomeFrame>(
        { type: 'auth', token: value },
        (frame) => this.writeOn(link, frame),
        this.options.requestTimeoutMs ?? 20_000,
      );
      if (this.link !== link) return;
      if (this.sessionInfo) this.sessionInfo = { ...this.sessionInfo, expiresAt: welcome.expiresAt };
      this.tokenAccepted(welcome.expiresAt);
    } catch (err) {
      if (!(err instanceof ChatError) || err.code === 'DISCONNECTED' || this.link !== link) return;
      this.events.emit('error', { error: err });
      if (err.code === 'TOKEN_EXPIRED' || err.code === 'INVALID_TOKEN' || err.code === 'TIMEOUT') {
        if (this.token) this.token.stale = true;
        this.retryRefresh(link);
      }
    }
  }

  private retryRefresh(link: Link): void {
    if (this.link !== link) return;
    const expiresAt = this.token?.expiresAt ?? Date.now();
    const wait = Math.max(250, Math.min(5_000, (expiresAt - Date.now()) / 4));
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refresh(), wait);
  }

  // ---------------------------------------------------------------- frames

  private writeOn(link: Link, frame: Readonly<Record<string, unknown>>, ephemeral = false): void {
    if (this.link !== link) return;
    link.pacer.send(link.codec.encode(frame), ephemeral);
  }

  private onData(link: Link, data: Uint8Array | string): void {
    let value: unknown;
    try {
      value = link.codec.decode(data);
    } catch {
      return; // not a frame: nothing the client can act on
    }
    if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') return;
    const frame = value as ServerFrame;
    link.heartbeat?.heard();
    if (frame.type !== 'ack' && frame.type !== 'msg' && 'id' in frame && typeof frame.id === 'number') {
      if (this.requests.answer(frame)) return;
    }
    switch (frame.type) {
      case 'ping':
        return this.writeOn(link, { type: 'pong', ...(frame.id !== undefined && { id: frame.id }) });
      case 'msg':
        return this.conversations.get(frame.conv)?.onMessage(toMessage(frame));
      case 'ack':
        return this.conversations.get(frame.conv)?.onAck(frame);
      case 'typing':
        return this.conversations.get(frame.conv)?.onTyping(frame);
      case 'presence':
        return this.conversations.get(frame.conv)?.onPresence(frame);
      case 'risk-alert': {
        const conversation = this.conversations.get(frame.conv);
        if (conversation) return conversation.onRiskAlert(frame);
        // Not joined here (a supervisor never joins): the client alone reports it.
        const { conv, seq, caseId, level, category, ts } = frame;
        return this.events.emit('riskAlert', { conv, seq, caseId, level, category, ts });
      }
      case 'appointment':
        return this.conversations.get(frame.conv)?.onAppointment(frame);
      case 'crisis-resources':
        return this.conversations.get(frame.conv)?.onCrisisResources(frame);
      case 'error':
        return this.onErrorFrame(link, frame);
      default:
        // pong, or the answer to an attempt already settled by another one.
        return;
    }
  }

  private onErrorFrame(link: Link, frame: ErrorFrame): void {
    if (frame.code === 'RATE_LIMITED') {
      // The server dropped one of our frames without saying which: pause, then resend what is unanswered.
      this.counters.rateLimited++;
      link.pacer.pause(frame.retryAfterMs ?? 1_000);
      this.requests.resendAll((f) => this.writeOn(link, f));
      for (const conversation of this.conversations.values()) conversation.onRateLimited();
      return;
    }
    if (frame.code === 'ACCESS_REVOKED' && frame.conv !== undefined) {
      // Pushed without an id when access ends; a send answered so comes after that push and changes nothing more.
      return this.conversations.get(frame.conv)?.onRevoked(frame);
    }
    for (const conversation of this.conversations.values()) if (conversation.onSendError(frame)) return;
    const error = ChatError.fromFrame(frame);
    const conversation = frame.conv === undefined ? undefined : this.conversations.get(frame.conv);
    this.events.emit('error', { error, ...(conversation && { conversation }) });
  }

  // ---------------------------------------------------------------- what conversations see

  private readonly host: ConversationHost = {
    connected: () => this.link?.welcomed === true,
    user: () => this.sessionInfo?.user,
    role: () => this.sessionInfo?.role,
    limits: () => this.sessionInfo?.limits ?? DEFAULT_LIMITS,
    outbox: () => this.outbox,
    requestTimeoutMs: () => this.options.requestTimeoutMs ?? 20_000,
    nextId: () => this.requests.nextId(),
    nextOrder: () => ++this.order,
    ready: () => this.outboxReady,
    countResend: () => void this.counters.resends++,
    newClientMsgId,
    write: (frame, ephemeral) => {
      if (this.link?.welcomed) this.writeOn(this.link, frame, ephemeral);
    },
    request: <T extends { type: string }>(frame: Readonly<Record<string, unknown>>) =>
      new Promise<T>((resolve, reject) =>
        this.host.issue(frame, (outcome) =>
          outcome instanceof ChatError ? reject(outcome) : resolve(outcome as unknown as T),
        ),
      ),
    issue: (frame, settle) => {
      const link = this.link;
      if (!link?.welcomed) return settle(new ChatError('DISCONNECTED', 'not connected'));
      this.requests.issue(frame, (f) => this.writeOn(link, f), this.options.requestTimeoutMs ?? 20_000, settle);
    },
    emit: (event, value) => this.events.emit(event, value as ClientEvents[typeof event]),
    forget: (conversation) => {
      if (this.conversations.get(conversation.id) === conversation) this.conversations.delete(conversation.id);
    },
    dropConnection: (reason) => {
      if (this.link) this.drop({ reason, action: 'reconnect' });
    },
  };
}

function toMessage(frame: MessageFrame): ChatMessage {
  const { conv, seq, from, role, clientMsgId, text, ts } = frame;
  return { conv, seq, from, role, clientMsgId, text, ts };
}
