import { describe, expect, it } from 'vitest';
import { rssPerAddedConnectionKb, type TimelinePoint } from '../src/run.js';

/** A connect ramp: `open` connections at each second, the server's RSS in MB. */
function ramp(points: readonly [open: number, rssMb: number][]): TimelinePoint[] {
  return points.map(
    ([open, serverRssMb], t) => ({ t, phase: 'connect', open, serverRssMb }) as unknown as TimelinePoint,
  );
}

describe('RSS per added connection', () => {
  it('is the slope after 40 % were open, leaving out a fixed cost taken early', () => {
    // 100 MB at rest, a 90 MB young generation filled by the first 2,000 connections, then 10 KiB per connection.
    const timeline = ramp([
      [0, 100],
      [1_000, 160],
      [2_000, 210],
      [4_000, 210 + (2_000 * 10) / 1024],
      [7_000, 210 + (5_000 * 10) / 1024],
      [10_000, 210 + (8_000 * 10) / 1024],
      [10_000, 210 + (8_000 * 10) / 1024],
    ]);
    expect(rssPerAddedConnectionKb(timeline, 10_000)).toBeCloseTo(10, 1);
  });

  it('is 0 when too few connections were added after 40 % to measure a slope', () => {
    expect(
      rssPerAddedConnectionKb(
        ramp([
          [4_000, 200],
          [5_000, 210],
        ]),
        10_000,
      ),
    ).toBe(0);
    expect(
      rssPerAddedConnectionKb(
        ramp([
          [1_000, 200],
          [3_000, 210],
        ]),
        10_000,
      ),
    ).toBe(0);
    expect(rssPerAddedConnectionKb([], 10_000)).toBe(0);
  });
});
