/**
 * Dead-connection detection. The server pings every `heartbeatMs` (from `welcome`); a phone that lost its signal
 * often gets no close event at all, only silence. When nothing has been heard for 1.5 heartbeats the client pings the
 * server itself (the server answers `pong` even when it sheds its own pings under load); when nothing has been heard
 * for `2 × heartbeatMs + graceMs`, the connection is declared dead and dropped, and the client reconnects.
 */
export interface HeartbeatOptions {
  /** Extra silence tolerated on top of two heartbeat intervals before the connection is declared dead. Default 1,000 ms. */
  readonly graceMs?: number;
}

export class Heartbeat {
  private lastHeard: number;
  private pinged = false;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    heartbeatMs: number,
    graceMs: number,
    private readonly ping: () => void,
    private readonly dead: (silentForMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.lastHeard = now();
    const pingAfter = heartbeatMs * 1.5;
    const deadAfter = heartbeatMs * 2 + graceMs;
    this.timer = setInterval(
      () => {
        const silent = this.now() - this.lastHeard;
        if (silent > deadAfter) {
          this.stop();
          this.dead(silent);
        } else if (silent > pingAfter && !this.pinged) {
          this.pinged = true;
          this.ping();
        }
      },
      Math.max(25, Math.min(1000, heartbeatMs / 4)),
    );
  }

  /** Anything arrived from the server. */
  heard(): void {
    this.lastHeard = this.now();
    this.pinged = false;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
