import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff (full jitter)', () => {
  it('grows the ceiling exponentially from min, caps it at max, and stays within [min, ceiling]', () => {
    const top = new Backoff({ minDelayMs: 100, maxDelayMs: 1_000 }, () => 0.999999);
    expect([1, 2, 3, 4, 5, 6].map(() => top.next())).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    const bottom = new Backoff({ minDelayMs: 100, maxDelayMs: 1_000 }, () => 0);
    expect([1, 2, 3].map(() => bottom.next())).toEqual([100, 100, 100]);
    const any = new Backoff();
    for (let i = 0; i < 200; i++) {
      const d = any.next();
      expect(d).toBeGreaterThanOrEqual(250);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });

  it('starts over after reset, and counts attempts against maxAttempts', () => {
    const b = new Backoff({ minDelayMs: 10, maxDelayMs: 1_000, maxAttempts: 2 }, () => 0.999999);
    b.next();
    b.next();
    expect(b.exhausted).toBe(true);
    b.reset();
    expect(b.exhausted).toBe(false);
    expect(b.next()).toBe(10);
  });

  it('spreads clients out: 1,000 phones retrying at attempt 5 do not come back together', () => {
    const delays = Array.from({ length: 1_000 }, () => {
      const b = new Backoff({ minDelayMs: 250, maxDelayMs: 10_000 });
      for (let i = 0; i < 5; i++) b.next();
      return b.next();
    });
    const buckets = new Set(delays.map((d) => Math.floor(d / 500)));
    expect(buckets.size).toBeGreaterThan(10);
  });
});
