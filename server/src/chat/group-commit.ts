/**
 * Group commit: every send that arrives while the previous batch is being committed joins the next batch, and a
 * batch is one store transaction. Under load this turns thousands of fsyncs a second into a few dozen; when idle a
 * message waits only for the current turn of the event loop. Callbacks, not a promise per message, keep the hot
 * path free of per-message microtask chains.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { AppendOutcome, AppendRequest, MessageSealer, Store, StoredMessage } from '../store/store.js';

export type CommitCallback = (err: Error | null, outcome?: AppendOutcome) => void;

interface Pending {
  readonly req: AppendRequest;
  readonly cb: CommitCallback;
}

export interface GroupCommitterOptions {
  readonly store: Store;
  readonly sealer: MessageSealer;
  /** Most messages in one transaction. */
  readonly maxBatch: number;
  /**
   * Least time from the start of one commit to the start of the next (a commit delay). Default 0: the next batch
   * starts on the turn after the previous one settles. A few milliseconds let a lightly loaded node gather several
   * times more messages per transaction, and so per fsync, for that much more ack latency; a saturated node, whose
   * commits take longer than this, is not slowed at all.
   */
  readonly minIntervalMs?: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * Called after the acknowledgements of a batch, with the messages it newly stored, in commit order, and their
   * plaintexts (same order), so that this node can deliver them without decrypting what it has just encrypted.
   */
  readonly onCommitted: (messages: readonly StoredMessage[], texts: readonly string[]) => void;
}

export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = false;
  private idle: (() => void)[] = [];
  /** When the last batch started (performance.now()); -Infinity before the first. */
  private lastFlushAt = -Infinity;

  constructor(private readonly options: GroupCommitterOptions) {}

  get pending(): number {
    return this.queue.length + (this.inFlight ? 1 : 0);
  }

  submit(req: AppendRequest, cb: CommitCallback): void {
    this.queue.push({ req, cb });
    this.schedule();
  }

  /** Resolves when everything submitted so far has been committed or failed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    const wait = this.lastFlushAt + (this.options.minIntervalMs ?? 0) - performance.now();
    if (wait > 0) setTimeout(() => this.flush(), wait);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inFlight || this.queue.length === 0) return;
    const { maxBatch, store, sealer, metrics } = this.options;
    const batch = this.queue.length <= maxBatch ? this.queue : this.queue.slice(0, maxBatch);
    this.queue = this.queue.length <= maxBatch ? [] : this.queue.slice(maxBatch);
    this.inFlight = true;
    this.lastFlushAt = performance.now();
    const started = process.hrtime.bigint();
    let promise: Promise<AppendOutcome[]>;
    try {
      promise = store.append(
        batch.map((p) => p.req),
        sealer,
      );
    } catch (err) {
      promise = Promise.reject(err as Error);
    }
    promise.then(
      (outcomes) => {
        metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        metrics.commitBatchSize.observe(batch.length);
        const stored: StoredMessage[] = [];
        const texts: string[] = [];
        for (let i = 0; i < outcomes.length; i++) {
          const o = outcomes[i]!;
          if (o.kind !== 'stored') continue;
          stored.push(o.message);
          texts.push(batch[i]!.req.text);
        }
        metrics.messagesCommitted.inc(stored.length);
        this.settle(batch, (p, i) => p.cb(null, outcomes[i]));
        if (stored.length > 0) this.options.onCommitted(stored, texts);
      },
      (err: Error) => {
        this.options.log.error({ err, batch: batch.length }, 'group commit failed; nothing of the batch was stored');
        this.settle(batch, (p) => p.cb(err));
      },
    );
  }

  private settle(batch: Pending[], each: (p: Pending, i: number) => void): void {
    this.inFlight = false;
    for (let i = 0; i < batch.length; i++) {
      try {
        each(batch[i]!, i);
      } catch (err) {
        this.options.log.error({ err }, 'commit callback threw');
      }
    }
    if (this.queue.length > 0) this.schedule();
    else for (const resolve of this.idle.splice(0)) resolve();
  }
}
