/**
 * Reconnect delays: exponential backoff with full jitter. Attempt n (0 for the first retry) waits a uniformly random
 * time in [minDelayMs, min(maxDelayMs, minDelayMs · 2ⁿ)], so that thousands of phones cut off by the same outage do not
 * come back in lockstep. The exponent stops growing at 2¹⁶ (well past any cap), so the arithmetic never overflows.
 */
export interface BackoffOptions {
  /** Shortest wait, and the first attempt's ceiling. Default 250 ms. */
  readonly minDelayMs?: number;
  /** Cap on the ceiling: no wait is longer than this. Default 10,000 ms. */
  readonly maxDelayMs?: number;
  /** Failed attempts in a row after which the client gives up and closes (`RECONNECT_GAVE_UP`). Default: never. */
  readonly maxAttempts?: number;
}

export const DEFAULT_BACKOFF = { minDelayMs: 250, maxDelayMs: 10_000, maxAttempts: Infinity } as const;
const MAX_EXPONENT = 16;

export class Backoff {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxAttempts: number;
  private attempts = 0;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.minDelayMs = Math.max(0, options.minDelayMs ?? DEFAULT_BACKOFF.minDelayMs);
    this.maxDelayMs = Math.max(this.minDelayMs, options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs);
    this.maxAttempts = options.maxAttempts ?? DEFAULT_BACKOFF.maxAttempts;
  }

  /** Failed attempts since the last `reset()`. */
  get attempt(): number {
    return this.attempts;
  }

  get exhausted(): boolean {
    return this.attempts >= this.maxAttempts;
  }

  /** The wait before the next attempt; counts an attempt. */
  next(): number {
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(this.attempts, MAX_EXPONENT));
    this.attempts++;
    return Math.round(this.minDelayMs + this.random() * (ceiling - this.minDelayMs));
  }

  /** After a successful connection. */
  reset(): void {
    this.attempts = 0;
  }
}
