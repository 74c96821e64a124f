import { describe, expect, it } from 'vitest';
import { cli, expectClean } from './helpers.js';

describe('loadtest smoke, faults', () => {
  it('reconnect-storm: half the connections cut at a proxy; all resume and nothing is lost', async () => {
    const run = await cli('cli', [
      'reconnect-storm',
      '--sessions',
      '10',
      '--rate',
      '100',
      '--duration',
      '4',
      '--drop',
      '50',
      '--storm-at',
      '1.5',
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [r] = run.results();
    expectClean(r!, expect);
    expect(r!.storm!.cut).toBe(10);
    expect(r!.storm!.observedDrops).toBeGreaterThan(0);
    expect(r!.storm!.resumed).toBe(r!.storm!.observedDrops);
    expect(r!.storm!.timeToAllResumedMs).toBeGreaterThan(0);
    expect(r!.latency.resume.count).toBe(r!.storm!.resumed);
  });

  it('slow-consumers: a reader that stops is cut with 4200 and resumes; the others are not cut', async () => {
    const run = await cli('cli', [
      'slow-consumers',
      '--sessions',
      '4',
      '--slow',
      '25',
      '--rate',
      '20',
      '--slow-rate',
      '800',
      '--warmup',
      '0.5',
      '--stall',
      '3',
      '--duration',
      '7',
    ]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [r] = run.results();
    expectClean(r!, expect);
    expect(r!.slow!.sessions).toBe(1);
    expect(r!.slow!.cutWith4200).toBe(1);
    expect(r!.slow!.resumed).toBe(1);
    expect(r!.slow!.unaffected4200).toBe(0);
    expect(r!.totals.closes['4200']).toBe(1);
  });
});
