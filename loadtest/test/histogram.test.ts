import { describe, expect, it } from 'vitest';
import { addEncoded, encodeHistogram, newHistogram, recordMs, summarize } from '../src/histogram.js';
import { lineChart } from '../src/report.js';
import { realisticLength, rng, sentence, textPool } from '../src/text.js';

describe('latency histograms', () => {
  it('give percentiles within HdrHistogram precision (3 significant digits)', () => {
    const h = newHistogram();
    for (let i = 1; i <= 10_000; i++) recordMs(h, i / 10); // 0.1 … 1000 ms, uniform
    const s = summarize(h);
    expect(s.count).toBe(10_000);
    expect(s.p50).toBeCloseTo(500, -1);
    expect(Math.abs(s.p99 - 990) / 990).toBeLessThan(0.002);
    expect(Math.abs(s.p999 - 999) / 999).toBeLessThan(0.002);
    expect(Math.abs(s.max - 1000) / 1000).toBeLessThan(0.002);
  });

  it('survive encoding and add up across workers', () => {
    const a = newHistogram();
    const b = newHistogram();
    for (let i = 0; i < 900; i++) recordMs(a, 1);
    for (let i = 0; i < 100; i++) recordMs(b, 100);
    const total = newHistogram();
    addEncoded(total, encodeHistogram(a));
    addEncoded(total, encodeHistogram(b));
    addEncoded(total, '');
    const s = summarize(total);
    expect(s.count).toBe(1000);
    expect(s.p50).toBeCloseTo(1, 1);
    expect(s.p99).toBeCloseTo(100, 0);
  });

  it('clamp what they cannot hold instead of throwing', () => {
    const h = newHistogram();
    recordMs(h, 0);
    recordMs(h, -5);
    recordMs(h, 1e12);
    expect(summarize(h).count).toBe(3);
    expect(summarize(newHistogram()).count).toBe(0);
  });
});

describe('generated texts', () => {
  it('have the asked length, or a realistic spread of lengths', () => {
    const random = rng(1);
    for (const n of [1, 2, 10, 200, 3000]) expect(sentence(n, random)).toHaveLength(n);
    const lengths = Array.from({ length: 5000 }, () => realisticLength(random)).sort((x, y) => x - y);
    expect(lengths[2500]).toBeGreaterThan(40);
    expect(lengths[2500]).toBeLessThan(90);
    expect(lengths[4999]).toBeLessThanOrEqual(1500);
    expect(textPool(200, 8).every((t) => t.length === 200)).toBe(true);
  });
});

describe('report charts', () => {
  it('are inline SVG with one line per series', () => {
    const svg = lineChart(
      't',
      'ms',
      [1, 2, 3],
      [
        { name: 'p50', color: '#000', values: [1, 2, 3] },
        { name: 'p99', color: '#f00', values: [5, 50, 500] },
      ],
      ['connect', 'run', 'drain'],
      { log: true },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).not.toContain('NaN');
  });
});
