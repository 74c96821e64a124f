import { describe, expect, it } from 'vitest';
import { yearsBefore } from './retention.js';

const iso = (t: number) => new Date(t).toISOString();

describe('yearsBefore (calendar years, UTC)', () => {
  it('keeps the date and the time of day to the millisecond', () => {
    expect(iso(yearsBefore(Date.UTC(2046, 5, 15, 12, 34, 56, 789), 20))).toBe('2026-06-15T12:34:56.789Z');
    expect(iso(yearsBefore(Date.UTC(2032, 0, 1, 0, 0, 0), 6))).toBe('2026-01-01T00:00:00.000Z');
  });

  it('maps 29 February to 28 February in a year without one', () => {
    expect(iso(yearsBefore(Date.UTC(2032, 1, 29, 8), 6))).toBe('2026-02-28T08:00:00.000Z');
    expect(iso(yearsBefore(Date.UTC(2048, 1, 29, 8), 20))).toBe('2028-02-29T08:00:00.000Z');
  });
});
