/**
 * One client connection: authentication, the per-frame checks (size, decoding, validation, rate, access), and the
 * handlers of each frame type. Every outbound byte goes through `writeBytes`, which enforces the outbound cap:
 * ephemeral frames are shed first, and past the byte cap the connection is closed as a slow consumer.
 */
import {
  CLOSE_CODES,
  type ClientFrame,
  type CloseCodeName,
  type Codec,
  codecFor,
  DecodeError,
  type ErrorCode,
  type ErrorFrame,
  type HistoryFrame,
  type JoinFrame,
  type LeaveFrame,
  type SendFrame,
  type ServerFrame,
  type TypingFrame,
  type AuthFrame,
  type AdmitFrame,
  type EndFrame,
  validateClientFrame,
} from '@therapy-chat/protocol';
import type { Logger } from 'pino';
import type { AuthRefusal, Principal } from '../auth/authenticator.js';
import { decide, type Decision } from '../policy/access-policy.js';
import { loadCaseAccess } from '../policy/case-access.js';
import { type ConversationInfo, StoreUnavailableError, type StoredMessage } from '../store/store.js';
import { NO_RISK, type RiskHit } from '../risk/risk-screen.js';
import type { AuditAction, AuditOutcome, AuditResourceType } from '../audit/audit-sink.js';
import { type LifecycleDeps, patientArrived, requestTransition } from '../appointments/appointment-lifecycle.js';
import { withAppointmentStatus } from '../appointments/appointment-transitions.js';
import { isIP } from 'node:net';
import type { TransportConnection } from '../transport/transport.js';
import type { WatchedConnection } from './access-watch.js';
import type { ChatService } from './chat-service.js';
import { OutboundFrame } from './outbound.js';
import { TokenBucket } from './rate-limiter.js';
import { Subscription, type SubscriptionHost } from './subscription.js';

/** Longest a token-expiry timer is armed for (setTimeout's limit); longer tokens are re-checked at the limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ClientConnection implements WatchedConnection {
  readonly codec: Codec;
  readonly log: Logger;
  principal: Principal | undefined;
  /** Real time (not the domain clock) the client was last heard from, for dead-peer detection. */
  lastHeard: number;
  /** Domain time of the last thing the user did (not heartbeats, not token refreshes), for the idle timeout. */
  lastActivity: number;
  private readonly bucket: TokenBucket;
  private readonly subs = new Map<string, Subscription>();
  private readonly joining = new Set<string>();
  private rateLimitedStreak = 0;
  /** Set while an `auth` is being verified: the frames that came after it, chained in order. */
  private authQueue: Promise<void> | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    readonly id: string,
    private readonly transport: TransportConnection,
    private readonly service: ChatService,
  ) {
    const now = service.now();
    this.codec = codecFor(transport.subprotocol);
    this.lastHeard = Date.now();
    this.lastActivity = now;
    this.bucket = new TokenBucket(service.config.limits.framesPerSecond, service.config.limits.frameBurst, now);
    this.log = service.log.child({ conn: id });
    this.authTimer = setTimeout(
      () => this.closeWith('AUTH_TIMEOUT', 'no auth frame in time'),
      service.config.authTimeoutMs,
    );
  }

  get isOpen(): boolean {
    return !this.closing;
  }

  get remoteAddress(): string {
    return this.transport.remoteAddress;
  }

  // ------------------------------------------------------------------ inbound

  onMessage(data: Uint8Array): void {
    if (this.closing) return;
    const { config, metrics } = this.service;
    const now = this.service.now();
    this.lastHeard = Date.now();
    const wait = this.bucket.take(now);
    if (wait > 0) {
      metrics.framesIn.inc({ type: 'rate_limited' });
      if (++this.rateLimitedStreak > config.limits.frameBurst) {
        this.closeWith('FLOODING', 'kept sending past the rate limit');
        return;
      }
      this.sendError({
        code: 'RATE_LIMITED',
        message: 'too many frames; slow down',
        retryAfterMs: wait,
        ...this.peek(data),
      });
      return;
    }
    this.rateLimitedStreak = 0;
    if (data.byteLength > config.limits.maxFrameBytes) {
      metrics.framesIn.inc({ type: 'invalid' });
      this.sendError({
        code: 'FRAME_TOO_LARGE',
        message: `frame of ${data.byteLength} bytes is over ${config.limits.maxFrameBytes}`,
      });
      return;
    }
    let decoded: unknown;
    try {
      decoded = this.codec.decode(data);
    } catch (err) {
      metrics.framesIn.inc({ type: 'invalid' });
      const message = err instanceof DecodeError ? err.message : 'could not decode the frame';
      this.sendError({ code: 'BAD_FRAME', message });
      return;
    }
    const result = validateClientFrame(decoded, config.limits);
    if (!result.ok) {
      metrics.framesIn.inc({ type: 'invalid' });
      this.sendError({ code: result.code, message: result.message, id: result.id });
      return;
    }
    const frame = result.frame;
    metrics.framesIn.inc({ type: frame.type });
    if (USER_ACTIONS.has(frame.type)) this.lastActivity = now;
    // While a token is being verified, later frames wait behind it, in order: a client may send `join` right after
    // `auth` without waiting for `welcome`, and must not be refused for it.
    if (this.authQueue || frame.type === 'auth') {
      const tail = (this.authQueue ?? Promise.resolve()).then(() => this.run(frame));
      this.authQueue = tail;
      void tail.finally(() => {
        if (this.authQueue === tail) this.authQueue = undefined;
      });
      return;
    }
    void this.run(frame);
  }

  /** Runs a frame's handler. For async handlers, a promise that settles when done (never rejects); else nothing. */
  private run(frame: ClientFrame): Promise<void> | undefined {
    if (this.closing) return undefined;
    try {
      const pending = this.dispatch(frame);
      if (pending) return pending.catch((err: unknown) => this.internalError(err, frame));
    } catch (err) {
      this.internalError(err, frame);
    }
    return undefined;
  }

  /**
   * The request fields of a frame that will not be processed (rate-limited), so the client knows which one to
   * resend. Best effort: anything that does not decode or validate names nothing.
   */
  private peek(data: Uint8Array): { id?: number; conv?: string; clientMsgId?: string } {
    if (data.byteLength > this.service.config.limits.maxFrameBytes) return {};
    let decoded: unknown;
    try {
      decoded = this.codec.decode(data);
    } catch {
      return {};
    }
    const result = validateClientFrame(decoded, this.service.config.limits);
    if (!result.ok) return result.id === undefined ? {} : { id: result.id };
    const f = result.frame;
    return {
      ...('id' in f && f.id !== undefined && { id: f.id }),
      ...('conv' in f && { conv: f.conv }),
      ...(f.type === 'send' && { clientMsgId: f.clientMsgId }),
    };
  }

  /** Runs a frame's handler. Sends, typing and heartbeats run synchronously (no promise per message); the rest are async. */
  private dispatch(frame: ClientFrame): Promise<void> | undefined {
    if (frame.type === 'ping') {
      this.write({ type: 'pong', ...(frame.id !== undefined && { id: frame.id }) });
      return undefined;
    }
    if (frame.type === 'pong') return undefined;
    if (frame.type === 'auth') return this.onAuth(frame);
    if (!this.principal) {
      this.closeWith('UNAUTHENTICATED', 'the first frame must be auth');
      return undefined;
    }
    switch (frame.type) {
      case 'join':
        return this.onJoin(frame, this.principal);
      case 'leave':
        this.onLeave(frame);
        return undefined;
      case 'send':
        this.onSend(frame, this.principal);
        return undefined;
      case 'typing':
        this.onTyping(frame, this.principal);
        return undefined;
      case 'history':
        return this.onHistory(frame, this.principal);
      case 'admit':
      case 'end':
        return this.onAppointmentRequest(frame, this.principal);
    }
    return undefined;
  }

  private async onAuth(frame: AuthFrame): Promise<void> {
    const { service } = this;
    const startedAt = performance.now();
    const result = await service.authenticator.authenticate(frame.token, service.now());
    if (this.closing) return;
    const refresh = this.principal !== undefined;
    if (!result.ok) {
      this.log.info({ code: result.code, reason: result.reason, refresh }, 'authentication refused');
      this.audit('auth.refused', 'refused', AUTH_REFUSAL[result.code].audit);
      this.sendError({ code: result.code, message: result.reason, id: frame.id });
      // A disabled account or an ended login session closes even an authenticated connection.
      const ended = result.code === 'ACCOUNT_DISABLED' || result.code === 'SESSION_ENDED';
      if (!refresh || ended) this.closeWith(AUTH_REFUSAL[result.code].close, result.reason);
      return;
    }
    const p = result.principal;
    const revoked = service.revokedDuring(p, startedAt);
    if (revoked) return this.closeWith(revoked, 'the account or login session was revoked');
    if (refresh && (p.userId !== this.principal!.userId || p.role !== this.principal!.role)) {
      this.sendError({
        code: 'ALREADY_AUTHENTICATED',
        message: 'a refresh token must be for the same user and role',
        id: frame.id,
      });
      return;
    }
    this.principal = p;
    this.audit(refresh ? 'auth.refresh' : 'auth.login', 'granted', 'token');
    clearTimeout(this.authTimer);
    this.armExpiry(p.expiresAt);
    if (!refresh) this.log.info({ user: p.userId, role: p.role }, 'authenticated');
    this.write({
      type: 'welcome',
      ...(frame.id !== undefined && { id: frame.id }),
      user: p.userId,
      role: p.role,
      connectionId: this.id,
      expiresAt: p.expiresAt,
      heartbeatMs: service.config.heartbeatMs,
      limits: service.config.limits,
      serverTime: service.now(),
    });
  }

  private armExpiry(expiresAt: number): void {
    clearTimeout(this.expiryTimer);
    const ms = expiresAt - this.service.now();
    if (ms <= 0) return this.closeWith('TOKEN_EXPIRED', 'the token expired');
    this.expiryTimer = setTimeout(
      () => {
        if (this.principal && this.principal.expiresAt <= this.service.now())
          this.closeWith('TOKEN_EXPIRED', 'the token expired');
        else if (this.principal) this.armExpiry(this.principal.expiresAt);
      },
      Math.min(ms, MAX_TIMER_MS),
    );
  }

  private async onJoin(frame: JoinFrame, principal: Principal): Promise<void> {
    const { service } = this;
    const { conv, id } = frame;
    if (this.joining.has(conv)) {
      return this.sendError({
        code: 'INVALID_FIELD',
        message: 'a join of this conversation is already in progress',
        id,
        conv,
      });
    }
    const existing = this.subs.get(conv);
    if (!existing && this.subs.size + this.joining.size >= service.config.limits.maxConversationsPerConnection) {
      return this.sendError({
        code: 'TOO_MANY_CONVERSATIONS',
        message: `at most ${service.config.limits.maxConversationsPerConnection} conversations per connection`,
        id,
        conv,
      });
    }
    this.joining.add(conv);
    try {
      const generation = service.accessWatch.generation;
      const info = await service.store.getConversation(conv);
      // The whole case, with its re-referral links: the therapist of a later case may join an earlier one, read-only.
      const access = info && (await loadCaseAccess(service.store.kysely, info.caseId));
      if (!info || !access) {
        this.audit('conversation.join.refused', 'refused', 'not-found', { type: 'conversation', id: conv });
        return this.sendError({ code: 'NOT_FOUND', message: 'no such conversation', id, conv });
      }
      const decision = decide(principal, 'conversation.join', { case: access, conversation: info }, service.now());
      this.audit(
        decision.allow ? 'conversation.join' : 'conversation.join.refused',
        decision.allow ? 'granted' : 'refused',
        decision.rule,
        { type: 'conversation', id: conv },
      );
      if (!decision.allow) {
        this.log.info({ conv, user: principal.userId, reason: decision.reason }, 'join refused');
        return this.sendError({ code: decision.code, message: 'you may not join this conversation', id, conv });
      }
      await service.keys.ensure(info.caseId);
      // The patient arriving for a scheduled appointment enters its waiting room (the others are told).
      const arrived = principal.role === 'patient' ? await patientArrived(this.lifecycle(), info) : info;
      if (existing) this.dropSubscription(existing);
      // Subscribe before reading lastSeq: whatever commits after the read arrives from the bus, and whatever
      // committed before is at or below lastSeq, so nothing falls between the two.
      const sub = new Subscription(this.createSubscriptionHost(principal.userId), arrived, access);
      await service.hub.add(sub, principal.role);
      const read = (await service.store.getConversation(conv)) ?? arrived;
      // An appointment change heard from the bus meanwhile may be newer than the read: statuses only move forward.
      const fresh = sub.info.appointmentStatus ? withAppointmentStatus(read, sub.info.appointmentStatus) : read;
      sub.refresh(fresh, access);
      if (this.closing) return void service.hub.remove(sub);
      if (frame.since !== undefined && frame.since > fresh.lastSeq) {
        service.hub.remove(sub);
        return this.sendError({
          code: 'INVALID_FIELD',
          message: `join: \`since\` (${frame.since}) is beyond the last seq of the conversation (${fresh.lastSeq})`,
          id,
          conv,
        });
      }
      this.subs.set(conv, sub);
      // An access change heard while this join was loading may have missed it: look again.
      if (service.accessWatch.generation !== generation) service.accessWatch.reload(info.caseId);
      const sendable = sub.decide(principal, 'conversation.send', service.now());
      this.write({
        type: 'joined',
        id,
        conv,
        lastSeq: fresh.lastSeq,
        // Closed for good; the waiting room and an appointment not yet live open later.
        closed: !sendable.allow && sendable.code !== 'WAITING_ROOM' && sendable.code !== 'APPOINTMENT_NOT_LIVE',
        ...(fresh.appointmentStatus !== null && { appointmentStatus: fresh.appointmentStatus }),
      });
      if (fresh.appointmentId !== null && fresh.appointmentStatus !== null) {
        this.write({
          type: 'appointment',
          conv,
          appointmentId: fresh.appointmentId,
          status: fresh.appointmentStatus,
          ts: service.now(),
        });
      }
      sub.start(frame.since ?? fresh.lastSeq);
      // Everyone hears if the picture changed; otherwise (a second device of someone present) only the joiner.
      if (!service.hub.presenceChanged(conv)) service.hub.presenceTo(sub);
    } finally {
      this.joining.delete(conv);
    }
  }

  private onLeave(frame: LeaveFrame): void {
    const sub = this.subs.get(frame.conv);
    if (!sub) return this.sendError({ code: 'NOT_JOINED', message: 'not joined', id: frame.id, conv: frame.conv });
    this.dropSubscription(sub);
    this.write({ type: 'left', id: frame.id, conv: frame.conv });
    this.service.hub.presenceChanged(frame.conv);
  }

  get subscriptions(): Iterable<Subscription> {
    return this.subs.values();
  }

  /**
   * Whether the subscription may stay: `conversation.join` decided again on what it knows now. When not, it ends:
   * the client is told (`ACCESS_REVOKED`, with the conversation and no id), presence updates, and the end is audited
   * with the rule that ended it.
   */
  recheck(sub: Subscription, now: number): void {
    if (this.principal) this.stillJoined(sub, this.principal, now);
  }

  private stillJoined(sub: Subscription, principal: Principal, now: number): boolean {
    if (this.closing || this.subs.get(sub.conv) !== sub) return false;
    const decision = sub.decide(principal, 'conversation.join', now);
    if (decision.allow) return true;
    this.revoke(sub, decision);
    return false;
  }

  private revoke(sub: Subscription, decision: Decision): void {
    this.dropSubscription(sub);
    this.audit('access.revoked', 'refused', decision.rule, { type: 'conversation', id: sub.conv });
    this.log.info({ conv: sub.conv, rule: decision.rule }, 'access revoked');
    this.sendError({ code: 'ACCESS_REVOKED', message: REVOKED_MESSAGE, conv: sub.conv });
    this.service.hub.presenceChanged(sub.conv);
  }

  private dropSubscription(sub: Subscription): void {
    sub.close();
    this.subs.delete(sub.conv);
    this.service.hub.remove(sub);
  }

  private onSend(frame: SendFrame, principal: Principal): void {
    const { service } = this;
    const { id, conv, clientMsgId } = frame;
    const sub = this.subs.get(conv);
    if (!sub)
      return this.sendError({
        code: 'NOT_JOINED',
        message: 'join the conversation before sending',
        id,
        conv,
        clientMsgId,
      });
    const now = service.now();
    if (!this.stillJoined(sub, principal, now)) {
      return this.sendError({ code: 'ACCESS_REVOKED', message: REVOKED_MESSAGE, id, conv, clientMsgId });
    }
    const decision = sub.decide(principal, 'conversation.send', now);
    if (!decision.allow) this.audit('access.refused', 'refused', decision.rule, { type: 'conversation', id: conv });
    if (!decision.allow)
      return this.sendError({ code: decision.code, message: decision.reason, id, conv, clientMsgId });
    if (service.shuttingDown) {
      return this.sendError({
        code: 'SHUTTING_DOWN',
        message: 'this server is shutting down; reconnect and resend',
        id,
        conv,
        clientMsgId,
      });
    }
    // Screened before commit, acted on after: a hit never holds the message back.
    const risk = principal.role === 'patient' ? service.screen(frame.text) : NO_RISK;
    service.committer.submit(
      {
        conv,
        senderId: principal.userId,
        senderRole: principal.role,
        clientMsgId,
        text: frame.text,
        ts: service.now(),
      },
      (err, outcome) => {
        if (err || !outcome) {
          if (err instanceof StoreUnavailableError) {
            return this.sendError({
              code: 'UNAVAILABLE',
              message: 'the message was not stored; resend it',
              id,
              conv,
              clientMsgId,
            });
          }
          this.log.error({ err, conv }, 'send failed');
          return this.sendError({
            code: 'INTERNAL',
            message: 'the message was not stored; resend it',
            id,
            conv,
            clientMsgId,
          });
        }
        switch (outcome.kind) {
          case 'stored':
          case 'duplicate': {
            const m = outcome.message;
            this.write({ type: 'ack', id, conv, clientMsgId, seq: m.seq, ts: m.ts });
            // Only a newly stored message raises an alert: a resend is the same message.
            if (outcome.kind === 'stored' && risk.hit) this.onRiskHit(m, sub.info, risk);
            return;
          }
          case 'mismatch':
            return this.sendError({
              code: 'CLIENT_MSG_ID_REUSED',
              message: 'this clientMsgId was already used for a different text',
              id,
              conv,
              clientMsgId,
            });
          case 'closed':
            return this.sendError({
              code: 'CONVERSATION_CLOSED',
              message: 'the conversation accepts no new messages',
              id,
              conv,
              clientMsgId,
            });
          case 'not-found':
            return this.sendError({ code: 'NOT_FOUND', message: 'no such conversation', id, conv, clientMsgId });
        }
      },
    );
  }

  /**
   * Writes an audit event for a decision about clinical data. Never throws into the chat path: an event the log
   * refuses (a bug) is logged as an error.
   */
  private audit(
    action: AuditAction,
    outcome: AuditOutcome,
    reason: string,
    resource?: { type: AuditResourceType; id: string },
  ): void {
    const p = this.principal;
    try {
      this.service.audit.record({
        actor: p ? { userId: p.userId, role: p.role } : 'anonymous',
        action,
        resource: resource ?? null,
        outcome,
        reason,
        time: this.service.now(),
        ip: isIP(this.transport.remoteAddress) ? this.transport.remoteAddress : null,
        device: this.transport.userAgent || null,
      });
    } catch (err) {
      this.log.error({ err, action }, 'audit event refused');
    }
  }

  /** The patient who wrote it is shown where to get help now; the therapist and the supervisor are alerted. */
  private onRiskHit(message: StoredMessage, info: ConversationInfo, hit: RiskHit): void {
    const { heading, body, contacts } = this.service.crisisResources;
    this.write({ type: 'crisis-resources', conv: message.conv, seq: message.seq, heading, body, contacts });
    this.service.raiseRiskAlert(message, info, hit);
    this.audit('risk.flagged', 'granted', `${hit.matched}@${this.service.riskScreen.classifier}`, {
      type: 'conversation',
      id: message.conv,
    });
  }

  /** What the appointment lifecycle needs from this connection: the stores, the bus, and audit with its client. */
  private lifecycle(): LifecycleDeps {
    const { service } = this;
    return {
      store: service.store,
      bus: service.bus,
      accessChanged: (caseId) => service.accessChanged(caseId),
      now: service.now,
      audit: (action, outcome, reason, resource) => this.audit(action, outcome, reason, resource),
    };
  }

  /** The therapist's `admit` or `end`: answered with the appointment's status, or an error. */
  private async onAppointmentRequest(frame: AdmitFrame | EndFrame, principal: Principal): Promise<void> {
    const { id, conv } = frame;
    const result = await requestTransition(this.lifecycle(), principal, conv, frame.type);
    if (!result.ok) return this.sendError({ code: result.code, message: result.message, id, conv });
    this.write({ type: 'appointment', id, ...result.notice });
  }

  private onTyping(frame: TypingFrame, principal: Principal): void {
    const sub = this.subs.get(frame.conv);
    if (!sub) return this.sendError({ code: 'NOT_JOINED', message: 'join the conversation first', conv: frame.conv });
    const now = this.service.now();
    if (!this.stillJoined(sub, principal, now)) return;
    if (!sub.decide(principal, 'conversation.typing', now).allow) return;
    this.service.bus.publish(frame.conv, {
      kind: 'typing',
      conv: frame.conv,
      user: principal.userId,
      role: principal.role,
      active: frame.active,
      origin: this.id,
    });
  }

  private async onHistory(frame: HistoryFrame, principal: Principal): Promise<void> {
    const { service } = this;
    const { id, conv } = frame;
    const sub = this.subs.get(conv);
    if (!sub) return this.sendError({ code: 'NOT_JOINED', message: 'join the conversation first', id, conv });
    const now = service.now();
    if (!this.stillJoined(sub, principal, now)) {
      return this.sendError({ code: 'ACCESS_REVOKED', message: REVOKED_MESSAGE, id, conv });
    }
    const decision = sub.decide(principal, 'conversation.read', now);
    if (!decision.allow) {
      this.audit('access.refused', 'refused', decision.rule, { type: 'conversation', id: conv });
      return this.sendError({ code: decision.code, message: decision.reason, id, conv });
    }
    const limit = frame.limit ?? service.config.limits.maxHistoryPage;
    let stored;
    try {
      stored = await service.store.messagesBefore(conv, frame.before, limit);
    } catch (err) {
      if (err instanceof StoreUnavailableError) {
        return this.sendError({ code: 'UNAVAILABLE', message: 'history could not be read now; retry', id, conv });
      }
      throw err;
    }
    this.audit('history.read', 'granted', `${stored.length}-messages`, { type: 'conversation', id: conv });
    const messages = stored.map((m) => service.decrypt(m));
    const first = messages[0];
    this.write({ type: 'history', id, conv, messages, hasMore: first !== undefined && first.seq > 1 });
  }

  // ------------------------------------------------------------------ outbound

  private createSubscriptionHost(userId: string): SubscriptionHost {
    return {
      connectionId: this.id,
      userId,
      write: (frame) => this.writeOutbound(frame, false),
      backlogged: () => this.transport.bufferedAmount > this.service.config.shedOutboundBytes,
      writable: () => this.writable(),
      readPage: (conv, after, limit) => this.service.store.messagesAfter(conv, after, limit),
      decrypt: (m) => this.service.decrypt(m),
      fail: (err) => {
        this.log.error({ err }, 'catch-up from the store failed; closing so the client resumes');
        this.closeWith('INTERNAL_ERROR', 'delivery failed; reconnect to resume');
      },
    };
  }

  /** Sends an essential frame (never shed; past the byte cap the connection closes instead). */
  write(frame: ServerFrame): boolean {
    return this.writeOutbound(new OutboundFrame(frame), false);
  }

  writeOutbound(frame: OutboundFrame, ephemeral: boolean): boolean {
    if (this.closing) return false;
    const data = frame.encoded(this.codec.subprotocol);
    const size = typeof data === 'string' ? data.length * 3 : data.byteLength;
    const queued = this.transport.bufferedAmount;
    const { config, metrics } = this.service;
    if (ephemeral && queued > config.shedOutboundBytes) {
      metrics.framesShed.inc();
      return true;
    }
    if (queued + size > config.maxOutboundBytes) {
      this.closeWith('SLOW_CONSUMER', 'outbound queue over its byte cap; reconnect and resume');
      return false;
    }
    this.transport.send(data);
    metrics.framesOut.inc({ type: frame.frame.type });
    return true;
  }

  /** Resolves once the outbound queue has drained below the shedding threshold (or the connection closed). */
  writable(): Promise<void> {
    const threshold = this.service.config.shedOutboundBytes;
    if (this.closing || this.transport.bufferedAmount <= threshold) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.closing || this.transport.bufferedAmount <= threshold) resolve();
        else setTimeout(check, 10);
      };
      setTimeout(check, 10);
    });
  }

  sendError(e: Omit<ErrorFrame, 'type'> & { code: ErrorCode }): void {
    this.service.metrics.errors.inc({ code: e.code });
    const frame: Record<string, unknown> = { type: 'error' };
    for (const [key, value] of Object.entries(e)) if (value !== undefined) frame[key] = value;
    this.write(frame as unknown as ErrorFrame);
  }

  private internalError(err: unknown, frame: ClientFrame): void {
    this.log.error({ err, frameType: frame.type }, 'frame handler failed');
    const id = 'id' in frame ? frame.id : undefined;
    const conv = 'conv' in frame ? frame.conv : undefined;
    if (err instanceof StoreUnavailableError) {
      return this.sendError({ code: 'UNAVAILABLE', message: 'the store is unavailable; retry', id, conv });
    }
    this.sendError({ code: 'INTERNAL', message: 'internal error; it has been logged', id, conv });
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Sends a server ping, or closes the connection: when nothing was heard for two intervals (a dead peer), or when
   * the user has done nothing for the idle timeout (`now` is the domain clock; heartbeats do not count).
   */
  heartbeat(now: number): void {
    if (this.closing || !this.principal) return;
    if (now - this.lastActivity >= this.service.config.idleTimeoutMs) {
      this.closeWith('IDLE_TIMEOUT', 'no user activity for the idle timeout');
      return;
    }
    if (Date.now() - this.lastHeard > 2 * this.service.config.heartbeatMs) {
      this.closeWith('HEARTBEAT_TIMEOUT', 'no frame from the client for two heartbeat intervals');
      return;
    }
    this.writeOutbound(PING, true);
  }

  closeWith(name: CloseCodeName, reason: string): void {
    if (this.closing) return;
    const { code } = CLOSE_CODES[name];
    if (code >= 4000 || code === 1011) this.service.metrics.errors.inc({ code: name });
    this.log.info({ code, reason }, 'closing connection');
    this.closing = true;
    this.transport.close(code, reason);
    this.cleanup();
  }

  /** The transport closed (either side). */
  onClose(): void {
    this.closing = true;
    this.cleanup();
  }

  private cleaned = false;
  private cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    clearTimeout(this.authTimer);
    clearTimeout(this.expiryTimer);
    const convs = [...this.subs.values()];
    for (const sub of convs) this.dropSubscription(sub);
    for (const sub of convs) this.service.hub.presenceChanged(sub.conv);
    this.service.forget(this);
  }
}

const PING = new OutboundFrame({ type: 'ping' });
const REVOKED_MESSAGE = 'your access to this conversation has ended';

/** How each refused token is audited, and the close code when it ends the connection. */
const AUTH_REFUSAL: Record<AuthRefusal, { audit: string; close: CloseCodeName }> = {
  INVALID_TOKEN: { audit: 'invalid-token', close: 'UNAUTHENTICATED' },
  TOKEN_EXPIRED: { audit: 'token-expired', close: 'TOKEN_EXPIRED' },
  ACCOUNT_DISABLED: { audit: 'account-disabled', close: 'FORBIDDEN' },
  SESSION_ENDED: { audit: 'session-ended', close: 'LOGGED_OUT' },
};

/** Frames that are the user doing something. Heartbeats and token refreshes are the app, not the user. */
const USER_ACTIONS: ReadonlySet<ClientFrame['type']> = new Set([
  'join',
  'leave',
  'send',
  'typing',
  'history',
  'admit',
  'end',
]);
