/**
 * Client-side flow control: every outbound frame of a connection passes through one FIFO queue drained by a token
 * bucket set a little below the server's limit (from `welcome.limits`), so the client does not trip `RATE_LIMITED` in
 * the first place. When the server says `RATE_LIMITED` anyway, `pause(retryAfterMs)` stops the queue for that long.
 * Ephemeral frames (typing) are dropped rather than queued behind a backlog.
 */

/** Share of the server's sustained rate the client uses, to leave room for clock and network jitter. */
const RATE_SHARE = 0.9;
/** Share of the server's burst the client uses: frames sent apart can still arrive together. */
const BURST_SHARE = 0.5;
/** Queued frames above which typing frames are dropped. */
const EPHEMERAL_DROP_BACKLOG = 8;

export class Pacer {
  private queue: (Uint8Array | string)[] = [];
  private tokens: number;
  private last: number;
  private rate: number;
  private burst: number;
  private pausedUntil = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly write: (data: Uint8Array | string) => void,
    limits: { framesPerSecond: number; frameBurst: number },
    private readonly enabled: boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = limits.framesPerSecond * RATE_SHARE;
    this.burst = Math.max(1, Math.floor(limits.frameBurst * BURST_SHARE));
    // The server's bucket starts full at connect and has spent one token on `auth` by the time limits are known.
    this.tokens = this.burst;
    this.last = this.now();
  }

  /** The limits from `welcome`. */
  setLimits(limits: { framesPerSecond: number; frameBurst: number }): void {
    this.refill();
    this.rate = limits.framesPerSecond * RATE_SHARE;
    this.burst = Math.max(1, Math.floor(limits.frameBurst * BURST_SHARE));
    this.tokens = Math.min(this.tokens, this.burst);
  }

  get backlog(): number {
    return this.queue.length;
  }

  send(data: Uint8Array | string, ephemeral = false): void {
    if (this.stopped) return;
    if (ephemeral && this.queue.length > EPHEMERAL_DROP_BACKLOG) return;
    this.queue.push(data);
    this.drain();
  }

  /** The server dropped a frame for going too fast: send nothing for `ms`. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.tokens = 0;
    this.drain();
  }

  /** Drops whatever is queued and stops (the connection is gone). */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    clearTimeout(this.timer);
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  private drain(): void {
    if (this.stopped || this.timer !== undefined) return;
    while (this.queue.length > 0) {
      const now = this.now();
      if (now < this.pausedUntil) return this.wake(this.pausedUntil - now);
      if (this.enabled) {
        this.refill();
        if (this.tokens < 1) return this.wake(Math.ceil(((1 - this.tokens) * 1000) / this.rate));
        this.tokens -= 1;
      }
      this.write(this.queue.shift()!);
    }
  }

  private wake(ms: number): void {
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.max(1, ms),
    );
  }
}
