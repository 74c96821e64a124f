import { describe, expect, it } from 'vitest';
import { TokenBucket } from './rate-limiter.js';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate, and says how long to wait', () => {
    const b = new TokenBucket(10, 3, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBe(100);
    expect(b.take(50)).toBe(50);
    expect(b.take(100)).toBe(0);
    expect(b.take(10_000)).toBe(0);
    expect([b.take(10_000), b.take(10_000), b.take(10_000)]).toEqual([0, 0, 100]);
  });
});
