/**
 * Failed-login limits, in memory on each node: per login name (guessing one account's password) and per client IP
 * (trying many accounts). Each key counts failures in a fixed window that starts at its first failure; at the limit
 * further attempts are refused without checking the password until the window ends. A successful login clears the
 * login name's count. Memory is bounded: past `maxKeys` the oldest windows are dropped.
 */

export interface LoginLimits {
  /** Failed attempts per login name per window. Default 5. */
  readonly perLogin: number;
  /** Failed attempts per client IP per window. Default 30. */
  readonly perIp: number;
  /** The window, in ms. Default 15 minutes. */
  readonly windowMs: number;
  /** Most keys remembered. Default 100,000. */
  readonly maxKeys: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perLogin: 5, perIp: 30, windowMs: 15 * 60_000, maxKeys: 100_000 };

interface Window {
  count: number;
  readonly resetAt: number;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();
  readonly limits: LoginLimits;

  constructor(limits: Partial<LoginLimits> = {}) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
  }

  /** Milliseconds until this login name and IP may try again; 0 when they may now. */
  retryAfterMs(login: string, ip: string | null, now: number): number {
    let wait = 0;
    for (const [key, limit] of this.keys(login, ip)) {
      const w = this.windows.get(key);
      if (!w) continue;
      if (w.resetAt <= now) this.windows.delete(key);
      else if (w.count >= limit) wait = Math.max(wait, w.resetAt - now);
    }
    return wait;
  }

  failed(login: string, ip: string | null, now: number): void {
    for (const [key] of this.keys(login, ip)) {
      const w = this.windows.get(key);
      if (w && w.resetAt > now) w.count++;
      else {
        this.windows.delete(key);
        this.windows.set(key, { count: 1, resetAt: now + this.limits.windowMs });
      }
    }
    // Maps iterate in insertion order: the first keys are the oldest windows.
    while (this.windows.size > this.limits.maxKeys) this.windows.delete(this.windows.keys().next().value!);
  }

  succeeded(login: string): void {
    this.windows.delete(`login:${login}`);
  }

  private keys(login: string, ip: string | null): [string, number][] {
    const keys: [string, number][] = [[`login:${login}`, this.limits.perLogin]];
    if (ip) keys.push([`ip:${ip}`, this.limits.perIp]);
    return keys;
  }
}
