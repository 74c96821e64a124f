#!/usr/bin/env node
/**
 * `npm run bench`: one fixed, documented workload against our server and, in the same run, against the bare relay
 * (relay.ts: same transport, frames, codec and validation; no persistence, no crypto), then the ratios.
 *
 * The workload (defaults; see loadtest/README.md):
 *   1. live sessions: 1,000 appointments (2,000 connections), 200-character messages, no typing indicators,
 *      15,000 messages/s offered in total (7.5 per person per second), 20 s (the first 2 s not measured);
 *   2. idle connections: 10,000 connections (5,000 appointments, each connection authenticated and joined), opened at
 *      1,000/s and held 10 s.
 * Each phase starts a fresh process (relay, or server on a fresh SQLite DATA_DIR with encryption and durable acks, as
 * always) on 127.0.0.1, so its CPU and memory are measured apart from the generator's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseOptions, RESULTS_DIR_DEFAULT, UsageError } from './options.js';
import { profilesText } from './profile.js';
import { summaryText, writeReports } from './report.js';
import { run, type RunResult } from './run.js';

const USAGE = `usage: npm run bench -- [--sessions 1000] [--rate 15000] [--text 200] [--duration 20] [--connections 10000]
                        [--workers 2] [--only sessions|connect] [--out loadtest/results] [--cpu-prof]`;

interface Pair {
  readonly relay: RunResult;
  readonly server: RunResult;
}

const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : NaN);

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      sessions: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '15000' },
      text: { type: 'string', default: '200' },
      duration: { type: 'string', default: '20' },
      connections: { type: 'string', default: '10000' },
      'connect-rate': { type: 'string', default: '1000' },
      hold: { type: 'string', default: '10' },
      workers: { type: 'string', default: '2' },
      only: { type: 'string' },
      out: { type: 'string', default: RESULTS_DIR_DEFAULT },
      'cpu-prof': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const common = ['--workers', v.workers, '--out', v.out, '--no-progress'];
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const results: Record<string, Pair> = {};
  const phases: [string, string[]][] = [];
  if (v.only !== 'connect') {
    phases.push([
      'sessions',
      [
        'sessions',
        '--sessions',
        v.sessions,
        '--rate',
        v.rate,
        '--text',
        v.text,
        '--typing',
        '0',
        '--duration',
        v.duration,
      ],
    ]);
  }
  if (v.only !== 'sessions') {
    phases.push([
      'connect',
      ['connect', '--connections', v.connections, '--connect-rate', v['connect-rate'], '--duration', v.hold],
    ]);
  }
  let exit = 0;
  for (const [phase, args] of phases) {
    const pair: Partial<Record<'relay' | 'server', RunResult>> = {};
    for (const target of ['relay', 'server'] as const) {
      log(`${phase} against the ${target}…`);
      const opts = parseOptions([
        ...args,
        ...common,
        '--target',
        target,
        '--name',
        `bench-${target}`,
        ...(v['cpu-prof'] && target === 'server' ? ['--cpu-prof'] : []),
      ]);
      const r = await run(opts, (l) => log(`  ${l}`));
      const files = writeReports(r, opts.outDir);
      process.stdout.write(`\n${summaryText(r)}\nresults: ${files.html}\n${profilesText(r)}`);
      pair[target] = r;
      if (r.exitCode !== 0) exit = Math.max(exit, r.exitCode);
    }
    results[phase] = pair as Pair;
  }

  const rows: string[][] = [['measure', 'server', 'bare relay', 'server / relay', 'target']];
  const s = results.sessions;
  if (s) {
    rows.push(
      [
        'delivered msgs/s',
        String(s.server.throughput.deliveredPerS),
        String(s.relay.throughput.deliveredPerS),
        String(ratio(s.server.throughput.deliveredPerS, s.relay.throughput.deliveredPerS)),
        '≥ 15,000/s',
      ],
      [
        'delivery p99, ms',
        String(s.server.latency.delivery.p99),
        String(s.relay.latency.delivery.p99),
        String(ratio(s.server.latency.delivery.p99, s.relay.latency.delivery.p99)),
        '< 50 ms',
      ],
      [
        'server CPU µs per delivered msg',
        String(s.server.server.cpuUsPerDelivered),
        String(s.relay.server.cpuUsPerDelivered),
        String(ratio(s.server.server.cpuUsPerDelivered, s.relay.server.cpuUsPerDelivered)),
        '≤ 2×',
      ],
      [
        'lost / dup / out of order',
        `${s.server.check.lost} / ${s.server.check.duplicated} / ${s.server.check.outOfOrder}`,
        `${s.relay.check.lost} / ${s.relay.check.duplicated} / ${s.relay.check.outOfOrder}`,
        '',
        '0 / 0 / 0',
      ],
      [
        'generator CPU, % of a core',
        s.server.generator.cpuPctPerWorker.join('+'),
        s.relay.generator.cpuPctPerWorker.join('+'),
        '',
        '',
      ],
    );
  }
  const c = results.connect;
  if (c) {
    rows.push(
      [
        'idle connections open',
        String(c.server.connections.peakOpen),
        String(c.relay.connections.peakOpen),
        '',
        '10,000',
      ],
      [
        'RSS per connection, KiB',
        String(c.server.server.rssPerConnectionKb),
        String(c.relay.server.rssPerConnectionKb),
        String(ratio(c.server.server.rssPerConnectionKb, c.relay.server.rssPerConnectionKb)),
        '≤ 2×',
      ],
      [
        'RSS per added connection, KiB',
        String(c.server.server.rssPerAddedConnectionKb),
        String(c.relay.server.rssPerAddedConnectionKb),
        String(ratio(c.server.server.rssPerAddedConnectionKb, c.relay.server.rssPerAddedConnectionKb)),
        '',
      ],
      [
        'connect rate, /s',
        String(c.server.connections.connectRatePerS),
        String(c.relay.connections.connectRatePerS),
        String(ratio(c.server.connections.connectRatePerS, c.relay.connections.connectRatePerS)),
        '',
      ],
    );
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
    .join('\n');
  process.stdout.write(`\nbench: our server against the bare relay (same machine, same generator)\n${text}\n`);
  fs.mkdirSync(v.out, { recursive: true });
  const file = path.join(
    v.out,
    `${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-bench.json`,
  );
  fs.writeFileSync(
    file,
    `${JSON.stringify({ table: rows, runs: Object.fromEntries(Object.entries(results).map(([k, p]) => [k, { relay: { ...p.relay, timeline: undefined }, server: { ...p.server, timeline: undefined } }])) }, null, 2)}\n`,
  );
  process.stdout.write(`bench results: ${file}\n`);
  return exit;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? err.message : String(err)}\n${err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? USAGE : ''}\n`,
    );
    process.exit(err instanceof UsageError ? 64 : 2);
  },
);
