/**
 * The chat node: owns the connections of this process and wires the message path together:
 * connection → validate → authorise → group commit (encrypt, store) → ack → bus → hub → connections.
 */
import type { ChatMessage } from '@therapy-chat/protocol';
import type { Logger } from 'pino';
import type { Authenticator } from '../auth/authenticator.js';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config.js';
import type { DataKeyRing } from '../crypto/data-keys.js';
import { newId } from '../ids.js';
import type { Metrics } from '../metrics.js';
import type { Store, StoredMessage } from '../store/store.js';
import type { ConnectionEvents, TransportConnection } from '../transport/transport.js';
import { ClientConnection } from './connection.js';
import { GroupCommitter } from './group-commit.js';
import { Hub, type EphemeralSink } from './hub.js';
import { chatMessage, type OutboundFrame } from './outbound.js';
import type { CrisisResources } from '../risk/crisis-resources.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import { NO_RISK, type RiskHit, type RiskResult, type RiskScreen } from '../risk/risk-screen.js';

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
  readonly now: () => number;
  shuttingDown = false;
  private readonly connections = new Map<string, ClientConnection>();
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
    this.hub = new Hub({
      bus: deps.bus,
      decrypt: (m) => this.decrypt(m),
      sink: this,
      log: deps.log.child({ module: 'hub' }),
      now: this.now,
    });
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

  /** After a screened message is stored: alert the therapist (any node), count it, log it without its text. */
  raiseRiskAlert(message: StoredMessage, caseId: string, hit: RiskHit): void {
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
    this.bus.publish(message.conv, {
      kind: 'risk-alert',
      conv: message.conv,
      seq: message.seq,
      caseId,
      level: hit.level,
      category: hit.category,
      ts: message.ts,
    });
  }

  startHeartbeats(): void {
    this.hub.start();
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
