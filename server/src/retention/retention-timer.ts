/**
 * Runs retention inside the server: first shortly after start, then every `intervalMs` (RETENTION_INTERVAL_MS; 0 turns
 * it off). A run goes on batch after batch while more is due, yielding to the event loop between batches. Runs never
 * overlap, the timer does not keep the process alive, and a failed run is logged and tried again at the next interval.
 * In a cluster every node runs it; that is safe (see `retention.ts`): at most one node acts on each case or account.
 */
import type { Logger } from 'pino';
import type { RetentionReport } from './retention.js';

/** The first run waits at most this long after start. */
export const RETENTION_FIRST_RUN_MAX_DELAY_MS = 30_000;

export interface RetentionTimerOptions {
  readonly intervalMs: number;
  /** One bounded batch. */
  readonly run: () => Promise<RetentionReport>;
  readonly log: Logger;
}

export class RetentionTimer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: RetentionTimerOptions) {}

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer || this.stopped) return;
    this.schedule(Math.min(this.options.intervalMs, RETENTION_FIRST_RUN_MAX_DELAY_MS));
  }

  /** Stops the timer and waits for a run in progress to finish its batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.runAll().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.options.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async runAll(): Promise<void> {
    let cases = 0;
    let accounts = 0;
    try {
      for (;;) {
        const report = await this.options.run();
        cases += report.cases;
        accounts += report.accounts;
        if (!report.more || this.stopped) break;
        await new Promise((r) => setImmediate(r));
      }
      if (cases > 0 || accounts > 0) this.options.log.info({ cases, accounts }, 'retention: records destroyed');
      else this.options.log.debug('retention: nothing due');
    } catch (err) {
      this.options.log.error({ err, cases, accounts }, 'retention run failed; retrying at the next interval');
    }
  }
}
