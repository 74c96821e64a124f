/**
 * The chat node: owns the connections of this process and wires the message path together:
 * connection → validate → authorise → group commit (encrypt, store) → ack → bus → hub → connections.
 */
import type { ChatMessage } from '@therapy-chat/protocol';
import type { Logger } from 'pino';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import { NODE_CHANNEL, type Bus, type BusEvent } from '../bus/bus.js';
import { principalState } from '../auth/principal-state.js';
import type { Config } from '../config.js';
import type { DataKeyRing } from '../crypto/data-keys.js';
import { newId } from '../ids.js';
import type { Metrics } from '../metrics.js';
import type { ConversationInfo, Store, StoredMessage } from '../store/store.js';
import type { ConnectionEvents, TransportConnection } from '../transport/transport.js';
import { AccessWatch } from './access-watch.js';
import { ClientConnection } from './connection.js';
import { GroupCommitter } from './group-commit.js';
import { Hub, type EphemeralSink } from './hub.js';
import { chatMessage, type OutboundFrame } from './outbound.js';
import type { CrisisResources } from '../risk/crisis-resources.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import { NO_RISK, type RiskHit, type RiskResult, type RiskScreen } from '../risk/risk-screen.js';
import { RiskAlertRouter } from '../risk/risk-alert-router.js';

type UserRevokedEvent = Extract<BusEvent, { kind: 'user-revoked' }>;
/** Longer than any account check takes; a revocation older than this is in the store for every check. */
const REVOCATION_MEMORY_MS = 10_000;

/**
 * Least time between the starts of two group commits. At 3,000 messages/s on the 2-core development machine this
 * took batches from about 12 to about 29 messages (each commit is an fsync) and the CPU per delivered message down by
 * about a tenth, for about 5 ms more median ack latency (loadtest/RESULTS.md). A message after a quiet spell still
 * commits on the next turn, and a saturated node, whose commits take longer than this, is not slowed.
 */
export const COMMIT_MIN_INTERVAL_MS = 10;

export interface ChatServiceDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  readonly keys: DataKeyRing;
  readonly bus: Bus;
  readonly authenticator: Authenticator;
  readonly riskScreen: RiskScreen;
  readonly crisisResources: CrisisResources;
  readonly audit: AuditWriter;
  /** The clock; tests pass a fake one. */
  readonly now?: () => number;
}

export class ChatService implements EphemeralSink {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly store: Store;
  readonly keys: DataKeyRing;
  readonly bus: Bus;
  readonly authenticator: Authenticator;
  readonly riskScreen: RiskScreen;
  readonly crisisResources: CrisisResources;
  readonly audit: AuditWriter;
  readonly committer: GroupCommitter;
  readonly hub: Hub;
  /** Ends live subscriptions whose access ended: on `accessChanged`, and as time passes. */
  readonly accessWatch: AccessWatch;
  readonly now: () => number;
  shuttingDown = false;
  /** Resolves once this node hears events addressed to its users (risk alerts); `listen` waits for it. */
  readonly ready: Promise<void>;
  private readonly alerts: RiskAlertRouter;
  private readonly connections = new Map<string, ClientConnection>();
  /** Revocations of the last few seconds, for `revokedDuring`. */
  private readonly recentRevocations: { at: number; event: UserRevokedEvent }[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(deps: ChatServiceDeps) {
    this.config = deps.config;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.store = deps.store;
    this.keys = deps.keys;
    this.bus = deps.bus;
    this.authenticator = deps.authenticator;
    this.riskScreen = deps.riskScreen;
    this.audit = deps.audit;
    this.crisisResources = deps.crisisResources;
    this.now = deps.now ?? Date.now;
    this.committer = new GroupCommitter({
      store: deps.store,
      sealer: deps.keys,
      maxBatch: deps.config.commitMaxBatch,
      minIntervalMs: COMMIT_MIN_INTERVAL_MS,
      metrics: deps.metrics,
      log: deps.log.child({ module: 'group-commit' }),
      // Fan-out only after commit: the bus carries what the store already holds. This node's members get the
      // plaintext it already has; the bus (ciphertext only) serves the other nodes, and its copy is dropped here
      // without being decrypted, since every local member already has it.
      onCommitted: (messages, texts) => {
        for (let i = 0; i < messages.length; i++) {
          const message = messages[i]!;
          this.hub.deliverLocal(message, texts[i]!);
          this.bus.publish(message.conv, { kind: 'message', message });
        }
      },
    });
    void this.bus.subscribe(NODE_CHANNEL, (_conv, event) => {
      if (event.kind === 'user-revoked') this.closeRevoked(event);
    });
    this.bus.onResync(() => void this.recheckRevoked());
    this.hub = new Hub({
      bus: deps.bus,
      decrypt: (m) => this.decrypt(m),
      sink: this,
      log: deps.log.child({ module: 'hub' }),
      now: this.now,
    });
    this.accessWatch = new AccessWatch({
      bus: deps.bus,
      store: deps.store,
      log: deps.log.child({ module: 'access-watch' }),
      now: this.now,
      connections: () => this.connections.values(),
      onShredded: (caseId) => this.keys.forget(caseId),
    });
    this.alerts = new RiskAlertRouter(deps.bus, (userId, frame) => this.writeToUser(userId, frame));
    this.ready = this.alerts.start();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  decrypt(m: StoredMessage): ChatMessage {
    return chatMessage(m, this.keys.open(m));
  }

  /** A new transport connection. */
  accept(transport: TransportConnection): ConnectionEvents {
    const conn = new ClientConnection(newId('c'), transport, this);
    this.connections.set(conn.id, conn);
    this.metrics.connections.inc();
    conn.log.debug({ remote: transport.remoteAddress, subprotocol: transport.subprotocol }, 'connection opened');
    return {
      message: (data) => conn.onMessage(data),
      close: () => conn.onClose(),
    };
  }

  /** Called by a connection when it is gone. */
  forget(conn: ClientConnection): void {
    if (this.connections.delete(conn.id)) this.metrics.connections.dec();
  }

  writeEphemeral(connectionId: string, frame: OutboundFrame): void {
    this.connections.get(connectionId)?.writeOutbound(frame, true);
  }

  writeEssential(connectionId: string, frame: OutboundFrame): void {
    this.connections.get(connectionId)?.writeOutbound(frame, false);
  }

  /**
   * Screens a patient's message. Never throws and never delays or blocks the message: a classifier that fails is
   * logged and counted, and the message goes on as if unscreened.
   */
  screen(text: string): RiskResult {
    try {
      return this.riskScreen.screen(text);
    } catch (err) {
      this.log.error({ err: (err as Error).name, classifier: this.riskScreen.classifier }, 'risk screen failed');
      this.metrics.errors.inc({ code: 'RISK_SCREEN_FAILED' });
      return NO_RISK;
    }
  }

  /** An essential frame to every connection of the user on this node. */
  writeToUser(userId: string, frame: OutboundFrame): void {
    for (const conn of this.connections.values())
      if (conn.principal?.userId === userId) conn.writeOutbound(frame, false);
  }

  /**
   * After a screened message is stored: alert the case's therapist and supervisor (every connection, any node), count
   * it, log it without its text.
   */
  raiseRiskAlert(
    message: StoredMessage,
    info: Pick<ConversationInfo, 'caseId' | 'therapistId' | 'supervisorId'>,
    hit: RiskHit,
  ): void {
    const { caseId } = info;
    this.metrics.riskHits.inc({ category: hit.category, level: hit.level });
    this.log.warn(
      {
        conv: message.conv,
        seq: message.seq,
        caseId,
        category: hit.category,
        level: hit.level,
        matched: hit.matched,
        classifier: this.riskScreen.classifier,
      },
      'risk screen hit',
    );
    this.alerts.raise(
      { conv: message.conv, seq: message.seq, caseId, level: hit.level, category: hit.category, ts: message.ts },
      [info.therapistId, info.supervisorId],
    );
  }

  /**
   * A case's access facts changed (assignment, discharge, restriction, break-glass, appointment state): every node
   * re-decides each live subscription to the case's conversations, and ends those no longer allowed, within a second.
   */
  accessChanged(caseId: string): void {
    this.accessWatch.announce(caseId);
  }

  /**
   * Ends a user's connections on every node: the account was disabled (close `FORBIDDEN`), or the user logged out
   * (close `LOGGED_OUT`; only the connections of that login session when `sessionId` is given).
   */
  userRevoked(userId: string, reason: 'disabled' | 'logged-out', sessionId?: string): void {
    const event: UserRevokedEvent = { kind: 'user-revoked', userId, reason, ...(sessionId && { sessionId }) };
    // This node at once, even when the bus is down; the others through the bus (here it arrives again: a no-op).
    this.closeRevoked(event);
    this.bus.publish(NODE_CHANNEL, event);
  }

  private closeRevoked(event: UserRevokedEvent): void {
    const at = performance.now();
    const recent = this.recentRevocations;
    recent.push({ at, event });
    while (recent.length > 0 && (at - recent[0]!.at > REVOCATION_MEMORY_MS || recent.length > 10_000)) recent.shift();
    for (const conn of [...this.connections.values()]) {
      const p = conn.principal;
      if (!p || p.userId !== event.userId) continue;
      if (event.reason === 'disabled') conn.closeWith('FORBIDDEN', 'the account was disabled');
      else if (!event.sessionId || p.sessionId === event.sessionId) conn.closeWith('LOGGED_OUT', 'logged out');
    }
  }

  /**
   * Whether a revocation for this principal arrived since `startedAt` (`performance.now()`), and the close code it
   * calls for: a token whose account check was in flight when the user logged out or was disabled must not win.
   */
  revokedDuring(p: Principal, startedAt: number): 'FORBIDDEN' | 'LOGGED_OUT' | undefined {
    for (const { at, event } of this.recentRevocations) {
      if (at < startedAt || event.userId !== p.userId) continue;
      if (event.reason === 'disabled') return 'FORBIDDEN';
      if (!event.sessionId || event.sessionId === p.sessionId) return 'LOGGED_OUT';
    }
    return undefined;
  }

  /**
   * After the bus lost events (Redis reconnected), a revocation may have been missed: check every connected account
   * and login session against the store once.
   */
  private async recheckRevoked(): Promise<void> {
    const now = this.now();
    for (const conn of [...this.connections.values()]) {
      const p = conn.principal;
      if (!p) continue;
      try {
        const state = await principalState(this.store.kysely, p, now);
        if (state === 'disabled') conn.closeWith('FORBIDDEN', 'the account was disabled');
        else if (state === 'session-ended') conn.closeWith('LOGGED_OUT', 'logged out');
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'revocation recheck failed');
        return;
      }
    }
  }

  startHeartbeats(): void {
    this.hub.start();
    this.accessWatch.start();
    this.heartbeatTimer = setInterval(() => {
      const now = this.now();
      for (const conn of this.connections.values()) conn.heartbeat(now);
    }, this.config.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Stops taking new messages, waits (up to `timeoutMs`) for in-flight commits so their acks go out, then closes
   * every connection with 1001 so clients reconnect elsewhere.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.heartbeatTimer);
    this.hub.stop();
    void this.accessWatch.stop();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.committer.drain().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn({ pending: this.committer.pending }, 'shutdown timeout: some commits had not finished');
    for (const conn of [...this.connections.values()]) conn.closeWith('GOING_AWAY', 'server shutting down');
  }
}
