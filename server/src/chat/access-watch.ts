/**
 * Ends live subscriptions when a permission ends, within a second, on every node (DESIGN §2: "access rules are
 * checked on every frame and request, not only at connect").
 *
 * Two ways access ends while someone is joined:
 * - the facts change (reassignment, discharge, restriction, shredding, an appointment's state): whoever changed them
 *   calls `ChatService.accessChanged(caseId)`, which publishes `access-changed` on the bus's node channel; each node
 *   reloads what its subscriptions to that patient's cases know, and re-decides `conversation.join` on the new facts;
 * - time passes (discharge + 6 weeks): a sweep every `ACCESS_SWEEP_MS` re-decides every subscription on what it
 *   already knows. Pure decisions over cached facts: no store read, so it stays cheap with many subscriptions.
 *
 * Subscriptions still allowed keep the refreshed facts, so the next frame is decided on them (a send after
 * discharge is refused at once). Reloads run one at a time, in order, so older facts never overwrite newer ones.
 */
import type { Logger } from 'pino';
import { NODE_CHANNEL, type Bus, type BusEvent, type BusHandler } from '../bus/bus.js';
import type { CaseAccess } from '../policy/access-policy.js';
import { loadCaseAccess } from '../policy/case-access.js';
import type { ConversationInfo, Store } from '../store/store.js';
import type { Subscription } from './subscription.js';

/** How often time-based ends (the 6-week window passing) are looked for: 500 ms, so they end within a second. */
export const ACCESS_SWEEP_MS = 500;

/** What the watch needs of a connection. */
export interface WatchedConnection {
  readonly subscriptions: Iterable<Subscription>;
  /** Re-decides whether `sub` may stay joined, on what it knows at `now`; ends it if not. */
  recheck(sub: Subscription, now: number): void;
}

export interface AccessWatchOptions {
  readonly bus: Bus;
  readonly store: Store;
  readonly log: Logger;
  readonly now: () => number;
  readonly connections: () => Iterable<WatchedConnection>;
  /** A case was found shredded (retention ended): its data keys must leave this node's memory. */
  readonly onShredded?: (caseId: string) => void;
}

export class AccessWatch {
  private readonly handler: BusHandler = (_conv, event) => this.onEvent(event);
  private readonly subscribed: Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  /** Cases waiting to be reloaded; a reload that failed (store unavailable) puts its case back for the next sweep. */
  private readonly queued = new Set<string>();
  private readonly failed = new Set<string>();
  private draining: Promise<void> | undefined;
  private changes = 0;

  constructor(private readonly options: AccessWatchOptions) {
    this.subscribed = options.bus.subscribe(NODE_CHANNEL, this.handler);
    // The bus may have lost access changes while it was down: reload everything joined here.
    options.bus.onResync(() => this.reloadAll());
  }

  /** Resolves once access changes from other nodes reach this one (for startup and tests). */
  ready(): Promise<void> {
    return this.subscribed;
  }

  /**
   * Counts the access changes heard so far. A join compares it before loading and after subscribing: a change that
   * came in between may have missed the new subscription, which is then reloaded.
   */
  get generation(): number {
    return this.changes;
  }

  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sweep(), ACCESS_SWEEP_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.options.bus.unsubscribe(NODE_CHANNEL, this.handler).catch(() => undefined);
  }

  /** Tells every node (this one included) that a case's access facts changed. */
  announce(caseId: string): void {
    this.options.bus.publish(NODE_CHANNEL, { kind: 'access-changed', caseId });
  }

  private onEvent(event: BusEvent): void {
    if (event.kind !== 'access-changed') return;
    this.changes++;
    this.reload(event.caseId);
  }

  /** Reloads the facts of the subscriptions to this case and to the same patient's other cases (re-referrals). */
  reload(caseId: string): void {
    this.queued.add(caseId);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  /** Reloads every case joined on this node. */
  reloadAll(): void {
    for (const conn of this.options.connections()) for (const sub of conn.subscriptions) this.reload(sub.info.caseId);
  }

  /** Waits for the reloads queued so far (for tests). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Re-decides every subscription on what it knows, and retries reloads that failed. */
  sweep(): void {
    const now = this.options.now();
    for (const conn of this.options.connections()) for (const sub of [...conn.subscriptions]) conn.recheck(sub, now);
    if (this.failed.size > 0) {
      const retry = [...this.failed];
      this.failed.clear();
      for (const caseId of retry) this.reload(caseId);
    }
  }

  private async drain(): Promise<void> {
    while (this.queued.size > 0) {
      const [caseId] = this.queued;
      this.queued.delete(caseId!);
      try {
        await this.reloadCase(caseId!);
      } catch (err) {
        this.options.log.warn({ err, caseId }, 'could not reload access facts; retrying at the next sweep');
        this.failed.add(caseId!);
      }
    }
  }

  private async reloadCase(caseId: string): Promise<void> {
    const { store, log } = this.options;
    const changed = await loadCaseAccess(store.kysely, caseId);
    // The node that shredded it forgot its keys; every other node forgets them here, joined or not.
    if (changed?.shreddedAt != null) this.options.onShredded?.(caseId);
    const affected: [WatchedConnection, Subscription][] = [];
    for (const conn of this.options.connections()) {
      for (const sub of conn.subscriptions) {
        // Re-referral links run between one patient's cases: a change to one can change who reads the others.
        if (sub.info.caseId === caseId || (changed && sub.access.patientId === changed.patientId))
          affected.push([conn, sub]);
      }
    }
    if (affected.length === 0) return;
    const cases = new Map<string, Promise<CaseAccess | undefined>>([[caseId, Promise.resolve(changed)]]);
    const convs = new Map<string, Promise<ConversationInfo | undefined>>();
    for (const [, sub] of affected) {
      if (!cases.has(sub.info.caseId)) cases.set(sub.info.caseId, loadCaseAccess(store.kysely, sub.info.caseId));
      if (!convs.has(sub.conv)) convs.set(sub.conv, store.getConversation(sub.conv));
    }
    // Settle every read before acting, so one failure leaves nothing half applied and no promise unobserved.
    await Promise.all([...cases.values(), ...convs.values()]);
    const now = this.options.now();
    for (const [conn, sub] of affected) {
      const info = await convs.get(sub.conv)!;
      const access = await cases.get(sub.info.caseId)!;
      if (info && access) sub.refresh(info, access);
      else log.warn({ conv: sub.conv }, 'a joined conversation or its case is gone');
      // A conversation that disappeared keeps its last facts; the shredded or reassigned case is what ends access.
      conn.recheck(sub, now);
    }
  }
}
