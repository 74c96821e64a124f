/**
 * The hot path's way into the audit log: `record(event)` is synchronous and returns at once; events recorded in the
 * same turn of the event loop, and while the previous batch is being written, go to the sink as one batch — one
 * transaction — on the next `setImmediate`, or, under a burst, once `minIntervalMs` has passed since the last batch
 * began. This is the store's group commit again: under load, thousands of events a second cost at most a hundred
 * transactions; idle, an event waits one turn of the event loop. No promise per event.
 *
 * A failed append is retried, in order, with backoff: events are not lost while the database is briefly away, and
 * `healthy` turns false so that the caller can fail closed (refuse access it cannot audit) until it returns. A
 * decision that must not be acted on before it is on disk (break-glass, export) uses `recordAndWait`.
 */
import { AuditEventError, toAuditContent } from './audit-event.js';
import type { AuditEventInput, AuditSink } from './audit-sink.js';

export interface AuditWriterOptions {
  readonly sink: AuditSink;
  /** Most events in one append (one transaction). Default 500. */
  readonly maxBatch?: number;
  /**
   * Least time from the start of one append to the start of the next. Default 10 ms. An event recorded after a quiet
   * spell is still written on the next turn; under a burst (a connect storm: a login and a join per connection)
   * events gather for up to this long, so the log costs at most 100 transactions (fsyncs) a second, not one per turn
   * of the event loop. 0: every turn, as soon as the previous append is done.
   */
  readonly minIntervalMs?: number;
  /** Most events held waiting to be written; past it `record` refuses them and `healthy` is false. Default 100,000. */
  readonly maxPending?: number;
  /** Wait before the first retry of a failed append; it doubles on each further failure. Default 100 ms. */
  readonly retryDelayMs?: number;
  /** Longest wait between retries. Default 5,000 ms. */
  readonly maxRetryDelayMs?: number;
  /**
   * Told of every failed append, with the events still waiting (log it; count it). The events stay queued and are
   * retried — except a batch the sink rejected as malformed, which cannot succeed and is dropped (a bug).
   */
  readonly onError?: (err: Error, pending: number) => void;
}

/** A `recordAndWait` event that is not, and will not be, in the log. */
export class AuditWriteError extends Error {
  override readonly name = 'AuditWriteError';
}

interface Pending {
  /** Position in recording order: 0, 1, 2, … */
  readonly index: number;
  readonly event: AuditEventInput;
  /** For `recordAndWait`: settles once the event is written, or definitely not. */
  readonly done?: (err: Error | null) => void;
}

export class AuditWriter {
  private queue: Pending[] = [];
  private inFlight: Pending[] | undefined;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private failing = false;
  private closed = false;
  /** Events accepted so far, and events settled (written, or refused to a waiting caller) so far. */
  private accepted = 0;
  private settled = 0;
  private waiters: { readonly until: number; readonly resolve: () => void }[] = [];
  private droppedCount = 0;
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly minInterval: number;
  /** When the last append started (performance.now()); -Infinity before the first. */
  private lastWriteAt = -Infinity;

  constructor(private readonly options: AuditWriterOptions) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 500);
    this.maxPending = Math.max(1, options.maxPending ?? 100_000);
    this.retryDelay = options.retryDelayMs ?? 100;
    this.minInterval = Math.max(0, options.minIntervalMs ?? 10);
  }

  /** The sink events are written to: for read-only questions of the log (a patient's access report). */
  get sink(): AuditSink {
    return this.options.sink;
  }

  /** Events recorded and not yet written. */
  get pending(): number {
    return this.accepted - this.settled;
  }

  /** False while appends are failing, or the queue is full, or after `close()`: audited access should be refused. */
  get healthy(): boolean {
    return !this.failing && !this.closed && this.queue.length < this.maxPending;
  }

  /** Events refused because the queue was full or the writer closed. */
  get dropped(): number {
    return this.droppedCount;
  }

  /**
   * Queues an event for the next batch and returns at once. Returns false, and writes nothing, when the queue is full
   * or the writer is closed: the caller should then refuse the access it was about to grant.
   * @throws AuditEventError, synchronously, when the event is not well formed (a bug in the caller).
   */
  record(event: AuditEventInput): boolean {
    toAuditContent(event);
    return this.enqueue(event);
  }

  /**
   * Queues an event and resolves once it is durably written. Rejects with `AuditWriteError` when it was not written
   * and will not be (append failed, queue full, writer closed): the caller must then not act on the decision.
   * @throws AuditEventError, synchronously, when the event is not well formed.
   */
  recordAndWait(event: AuditEventInput): Promise<void> {
    toAuditContent(event);
    return new Promise((resolve, reject) => {
      const queued = this.enqueue(event, (err) =>
        err ? reject(new AuditWriteError(`audit event not written: ${err.message}`, { cause: err })) : resolve(),
      );
      if (!queued) reject(new AuditWriteError(this.closed ? 'the audit writer is closed' : 'the audit queue is full'));
    });
  }

  /** Resolves once every event recorded before the call is written (or refused to its waiting caller). */
  flush(): Promise<void> {
    const until = this.accepted;
    if (this.unsettledFrom() >= until) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ until, resolve }));
  }

  /**
   * Stops accepting events and drains the queue. Rejects if events are still unwritten after `timeoutMs` (default
   * 10,000 ms), saying how many: they are lost, and the caller should log that loudly.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closed = true;
    if (this.pending === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.flush(), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      clearTimeout(this.retryTimer);
      throw new AuditWriteError(`${this.pending} audit events were not written before the writer closed`);
    }
  }

  private enqueue(event: AuditEventInput, done?: Pending['done']): boolean {
    if (this.closed || this.queue.length >= this.maxPending) {
      this.droppedCount += 1;
      return false;
    }
    this.queue.push({ index: this.accepted, event, done });
    this.accepted += 1;
    this.schedule();
    return true;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.retryTimer) return;
    this.scheduled = true;
    const wait = this.lastWriteAt + this.minInterval - performance.now();
    if (wait > 0) setTimeout(() => this.write(), wait);
    else setImmediate(() => this.write());
  }

  private write(): void {
    this.scheduled = false;
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.slice(0, this.maxBatch);
    this.queue = this.queue.slice(batch.length);
    this.inFlight = batch;
    this.lastWriteAt = performance.now();
    let appended: Promise<unknown>;
    try {
      appended = this.options.sink.append(batch.map((p) => p.event));
    } catch (err) {
      appended = Promise.reject(err as Error);
    }
    appended.then(
      () => {
        this.failing = false;
        this.retryDelay = this.options.retryDelayMs ?? 100;
        this.settle(batch, null);
        this.next();
      },
      (err: Error) => this.failed(batch, err),
    );
  }

  private failed(batch: Pending[], err: Error): void {
    this.failing = true;
    // Waiting callers learn now and refuse; their events leave the batch, so they are never written later.
    const retry = err instanceof AuditEventError ? [] : batch.filter((p) => !p.done);
    this.settle(retry.length === 0 ? batch : batch.filter((p) => p.done), err);
    this.queue = [...retry, ...this.queue];
    this.inFlight = undefined;
    this.wake();
    try {
      this.options.onError?.(err, this.pending);
    } catch {
      // A reporting hook must not stop the writer.
    }
    if (this.queue.length === 0) return this.next();
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.options.maxRetryDelayMs ?? 5000, this.retryDelay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.write();
    }, delay);
    this.retryTimer.unref();
  }

  private settle(items: Pending[], err: Error | null): void {
    this.settled += items.length;
    for (const p of items) p.done?.(err);
  }

  private next(): void {
    this.inFlight = undefined;
    if (this.queue.length > 0) this.schedule();
    this.wake();
  }

  /** The recording index of the oldest event not yet settled (the in-flight batch and retries are the oldest). */
  private unsettledFrom(): number {
    return this.inFlight?.[0]?.index ?? this.queue[0]?.index ?? this.accepted;
  }

  /** Resolves the flushes whose events are all settled. */
  private wake(): void {
    const from = this.unsettledFrom();
    const ready = this.waiters.filter((w) => w.until <= from);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.until > from);
    for (const w of ready) w.resolve();
  }
}
