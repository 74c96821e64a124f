/**
 * Smoke runs of the load tool: each scenario, small and short, against a server it starts itself. They check the
 * tool and its correctness checks, not performance (the machine running the tests is busy with other suites).
 */
import { describe, expect, it } from 'vitest';
import { cli, expectClean } from './helpers.js';

describe('loadtest smoke', () => {
  it('sessions: live appointments, both sides typing; summary, JSON and HTML report', async () => {
    const run = await cli('cli', ['sessions', '--sessions', '10', '--rate', '100', '--duration', '2', '--drain', '5']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [r] = run.results();
    expectClean(r!, expect);
    expect(r!.check.acked).toBeGreaterThan(50);
    expect(r!.check.participants).toBe(20);
    expect(r!.throughput.deliveredPerS).toBeGreaterThan(0);
    expect(r!.latency.delivery.count).toBeGreaterThan(0);
    expect(r!.totals.typingSent).toBeGreaterThan(0);
    expect(r!.server.source).toBe('proc');
    expect(r!.server.rssEndMb).toBeGreaterThan(0);
    expect(r!.timeline.length).toBeGreaterThan(2);
    expect(run.stdout).toMatch(/lost\s+0/);
    expect(run.stdout).toContain('PASS');
    const [html] = run.html();
    expect(html).toContain('<svg');
    expect(html).toContain('Delivery latency');
  });

  it('messages: inter-session threads, therapists with a caseload', async () => {
    const run = await cli('cli', ['messages', '--threads', '12', '--caseload', '4', '--rate', '40', '--duration', '2']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [r] = run.results();
    expectClean(r!, expect);
    expect(r!.check.conversations).toBe(12);
    expect(r!.connections.planned).toBe(15);
  });

  it('connect: ramps to N idle connections and reports memory per connection', async () => {
    const run = await cli('cli', ['connect', '--connections', '150', '--connect-rate', '500', '--duration', '1']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const [r] = run.results();
    expect(r!.connections.peakOpen).toBe(150);
    expect(r!.connections.connectRatePerS).toBeGreaterThan(0);
    expect(r!.latency.joined.count).toBe(150);
    expect(r!.server.rssEndMb).toBeGreaterThan(r!.server.rssBaselineMb * 0.5);
  });
});
