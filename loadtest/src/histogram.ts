/**
 * Latency histograms: HdrHistogram (the `hdr-histogram-js` package) recording microseconds, 3 significant digits,
 * from 1 µs to one hour. Workers ship them to the coordinator encoded (compressed base64), where they are added up.
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

export type { Histogram };

const HIGHEST_US = 3_600_000_000;

export function newHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  });
}

/** Records a duration given in milliseconds (fractions allowed). */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > HIGHEST_US ? HIGHEST_US : us);
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  return decodeFromCompressedBase64(s);
}

/** Adds encoded histograms into `into` (skipping empty strings). */
export function addEncoded(into: Histogram, encoded: string | undefined): void {
  if (!encoded) return;
  const h = decodeHistogram(encoded);
  if (h.totalCount > 0) into.add(h);
  h.destroy();
}

/** Percentiles in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

const round3 = (us: number) => Math.round(us) / 1000;

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    count: h.totalCount,
    p50: round3(h.getValueAtPercentile(50)),
    p90: round3(h.getValueAtPercentile(90)),
    p99: round3(h.getValueAtPercentile(99)),
    p999: round3(h.getValueAtPercentile(99.9)),
    max: round3(h.maxValue),
    mean: round3(h.mean),
  };
}
