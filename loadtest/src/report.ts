/**
 * What a run leaves behind: a summary table on stdout, a JSON file with everything, and a self-contained HTML report
 * whose charts are SVG drawn here (no script, no external file), in the results folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LatencySummary } from './histogram.js';
import type { RunResult, TimelinePoint } from './run.js';

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-GB', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';

function latencyRow(name: string, s: LatencySummary): string[] {
  if (s.count === 0) return [name, '–', '–', '–', '–', '–', '0'];
  return [name, fmt(s.p50, 1), fmt(s.p90, 1), fmt(s.p99, 1), fmt(s.p999, 1), fmt(s.max, 1), fmt(s.count)];
}

function table(rows: string[][], header?: string[]): string {
  const all = header ? [header, ...rows] : rows;
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = all.map(line);
  if (header) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

export function summaryText(r: RunResult): string {
  const out: string[] = [];
  out.push(
    `therapy-chat load test: ${r.scenario}${r.scenario !== r.workload ? ` (${r.workload})` : ''}${r.label ? ` [${r.label}]` : ''}`,
  );
  out.push(
    `target: ${r.target.kind}${r.target.startedByTool ? ' started by the tool' : ''} at ${r.target.urls.join(', ')}; window: ${r.window.seconds} s (${r.window.note})`,
  );
  out.push('');
  const rows: string[][] = [
    [
      'connections',
      `${fmt(r.connections.peakOpen)} open of ${fmt(r.connections.planned)}; connected in ${r.connections.connectSeconds} s (${fmt(r.connections.connectRatePerS)}/s), ${r.connections.connectFailures} failed attempts`,
    ],
  ];
  if (r.workload !== 'connect') {
    rows.push(
      [
        'messages',
        `${fmt(r.throughput.sentPerS)}/s sent, ${fmt(r.throughput.ackedPerS)}/s acknowledged, ${fmt(r.throughput.deliveredPerS)}/s delivered to others`,
      ],
      ['typing', `${fmt(r.throughput.typingDeliveredPerS)}/s indicators delivered`],
    );
  }
  rows.push(
    [
      'server',
      `${fmt(r.server.cpuPctOfCore, 1)}% of a core (${r.server.source})` +
        (r.workload !== 'connect' ? `, ${fmt(r.server.cpuUsPerDelivered, 1)} µs CPU per delivered message` : '') +
        `; RSS ${fmt(r.server.rssBaselineMb, 1)} → ${fmt(r.server.rssEndMb, 1)} MB, ${fmt(r.server.rssPerConnectionKb, 1)} KiB per connection` +
        (r.server.rssPerAddedConnectionKb > 0 ? ` (${fmt(r.server.rssPerAddedConnectionKb, 1)} per added one)` : ''),
    ],
    [
      'generator',
      `${r.generator.workers} worker(s) at ${r.generator.cpuPctPerWorker.map((p) => `${fmt(p)}%`).join(', ')} of a core; coordinator ${fmt(r.generator.coordinatorCpuPct)}%; loop delay p99 ≤ ${fmt(r.generator.maxLoopDelayMs, 1)} ms; RSS ${fmt(r.generator.rssMb)} MB`,
    ],
  );
  out.push(table(rows));
  out.push('');
  const lat: string[][] = [];
  if (r.latency.delivery.count > 0) lat.push(latencyRow('delivery (send → other receives)', r.latency.delivery));
  if (r.slow) {
    lat.push(latencyRow('  of participants who kept reading', r.latency.deliveryUnaffected));
    lat.push(latencyRow('  of the stalled readers', r.latency.deliverySlow));
  }
  if (r.latency.ack.count > 0) lat.push(latencyRow('ack (send → ack)', r.latency.ack));
  lat.push(latencyRow('connect (→ welcome)', r.latency.connect));
  if (r.latency.joined.count > 0) lat.push(latencyRow('connect (→ all joined)', r.latency.joined));
  if (r.latency.resume.count > 0) lat.push(latencyRow('resume (drop → rejoined)', r.latency.resume));
  out.push(table(lat, ['latency, ms', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count']));
  out.push('');
  if (r.storm) {
    out.push(
      `reconnect storm (${r.storm.how}): ${r.storm.cut} cut, ${r.storm.observedDrops} users dropped, ${r.storm.resumed} resumed, ${r.storm.stillDown} still down; all resumed ${fmt(r.storm.timeToAllResumedMs)} ms after the cut`,
    );
  }
  if (r.slow) {
    out.push(
      `slow consumers: ${r.slow.sessions} stalled readers, ${r.slow.cutWith4200} cut with 4200, ${r.slow.resumed} resumed; others' delivery p99 ${fmt(r.slow.unaffectedP99BeforeMs, 1)} ms before the stall, ${fmt(r.slow.unaffectedP99DuringMs, 1)} ms during it; ${r.slow.unaffected4200} readers wrongly cut`,
    );
  }
  const errs = Object.entries(r.totals.errors);
  const closes = Object.entries(r.totals.closes);
  out.push(`errors by code: ${errs.length ? errs.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  out.push(`closes by code: ${closes.length ? closes.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  out.push('');
  const c = r.check;
  out.push(
    table(
      [
        ['acknowledged messages', fmt(c.acked)],
        ['participants', fmt(c.participants)],
        ['deliveries owed / msg frames received', `${fmt(c.expectedDeliveries)} / ${fmt(c.received)}`],
        ['lost', fmt(c.lost)],
        ['duplicated', fmt(c.duplicated)],
        ['out of order', fmt(c.outOfOrder)],
        ['mismatched (order differs)', fmt(c.mismatched)],
        ['ack conflicts', fmt(c.ackConflicts)],
        ['unacknowledged at end', fmt(c.unackedAtEnd)],
      ],
      ['delivery check', 'count'],
    ),
  );
  for (const e of c.examples.slice(0, 5)) out.push(`  e.g. ${e}`);
  out.push('');
  for (const wmsg of r.warnings) out.push(`warning: ${wmsg}`);
  for (const f of r.fatal.slice(0, 10)) out.push(`problem: ${f}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push('');
  out.push(`${r.verdict} (exit ${r.exitCode})`);
  return out.join('\n');
}

// ------------------------------------------------------------------------------------------------ HTML

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);

interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
}

/** A line chart as inline SVG: x = seconds, one or more series, phases shaded. */
export function lineChart(
  title: string,
  unit: string,
  xs: readonly number[],
  series: readonly Series[],
  phases: readonly TimelinePoint['phase'][] = [],
  opts: { log?: boolean } = {},
): string {
  const W = 760;
  const H = 240;
  const L = 60;
  const R = 16;
  const T = 28;
  const B = 34;
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  const useLog = opts.log === true && all.some((v) => v > 0);
  const positives = all.filter((v) => v > 0);
  let ymax = Math.max(1e-9, ...all);
  let ymin = 0;
  if (useLog) {
    ymin = Math.pow(10, Math.floor(Math.log10(Math.max(1e-3, Math.min(...positives)))));
    ymax = Math.pow(10, Math.ceil(Math.log10(ymax)));
  } else {
    const mag = Math.pow(10, Math.floor(Math.log10(ymax)));
    ymax = Math.ceil(ymax / mag) * mag;
  }
  const xmin = xs[0] ?? 0;
  const xmax = Math.max(xmin + 1, xs[xs.length - 1] ?? 1);
  const px = (x: number) => L + ((x - xmin) / (xmax - xmin)) * (W - L - R);
  const py = (y: number) => {
    if (useLog) {
      const v = Math.max(ymin, y);
      return T + (1 - (Math.log10(v) - Math.log10(ymin)) / (Math.log10(ymax) - Math.log10(ymin))) * (H - T - B);
    }
    return T + (1 - (y - ymin) / (ymax - ymin)) * (H - T - B);
  };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">`);
  parts.push(`<title>${esc(title)}</title>`);
  parts.push(`<text x="${L}" y="18" font-size="14" font-weight="600">${esc(title)}</text>`);
  // Phases.
  const phaseColor: Record<string, string> = { connect: '#f4f0e0', drain: '#eef0f4' };
  for (let i = 0; i < phases.length; i++) {
    const color = phaseColor[phases[i]!];
    if (!color || i >= xs.length) continue;
    const x0 = px(i === 0 ? xmin : (xs[i - 1]! + xs[i]!) / 2);
    const x1 = px(i === xs.length - 1 ? xs[i]! : (xs[i]! + xs[i + 1]!) / 2);
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${T}" width="${Math.max(0, x1 - x0).toFixed(1)}" height="${H - T - B}" fill="${color}"/>`,
    );
  }
  // Grid and axes.
  const ticks: number[] = [];
  if (useLog) for (let v = ymin; v <= ymax * 1.0001; v *= 10) ticks.push(v);
  else for (let i = 0; i <= 4; i++) ticks.push((ymax * i) / 4);
  for (const v of ticks) {
    const y = py(v);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${L - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${esc(shortNum(v))}</text>`,
    );
  }
  const xstep = niceStep((xmax - xmin) / 8);
  for (let x = Math.ceil(xmin / xstep) * xstep; x <= xmax; x += xstep) {
    parts.push(
      `<text x="${px(x).toFixed(1)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${esc(shortNum(x))}</text>`,
    );
  }
  parts.push(`<text x="${W - R}" y="${H - 4}" font-size="11" text-anchor="end">seconds</text>`);
  parts.push(
    `<text x="12" y="${T + (H - T - B) / 2}" font-size="11" transform="rotate(-90 12 ${T + (H - T - B) / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  parts.push(
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#888"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#888"/>`,
  );
  // Series.
  series.forEach((s, si) => {
    const pts = xs
      .map((x, i) => [x, s.values[i]] as const)
      .filter(([, y]) => y !== undefined && Number.isFinite(y) && (!useLog || y > 0))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y!).toFixed(1)}`);
    if (pts.length > 0)
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.8" points="${pts.join(' ')}"/>`);
    const lx = L + 10 + si * 120;
    parts.push(
      `<rect x="${lx}" y="${T + 4}" width="10" height="10" fill="${s.color}"/><text x="${lx + 14}" y="${T + 13}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function niceStep(raw: number): number {
  const mag = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

function shortNum(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (v >= 100) return String(Math.round(v));
  if (v >= 1) return String(+v.toFixed(1));
  return String(+v.toPrecision(2));
}

function htmlTable(rows: (string | number)[][], header?: string[]): string {
  const cell = (c: string | number, h = false) => `<${h ? 'th' : 'td'}>${esc(String(c))}</${h ? 'th' : 'td'}>`;
  return `<table>${header ? `<tr>${header.map((h) => cell(h, true)).join('')}</tr>` : ''}${rows
    .map((r) => `<tr>${r.map((c) => cell(c)).join('')}</tr>`)
    .join('')}</table>`;
}

export function htmlReport(r: RunResult): string {
  const tl = r.timeline;
  const xs = tl.map((p) => p.t);
  const phases = tl.map((p) => p.phase);
  const charts: string[] = [];
  if (r.workload !== 'connect') {
    charts.push(
      lineChart(
        'Delivery latency per second (send → other participant receives)',
        'ms (log)',
        xs,
        [
          { name: 'p50', color: '#2b8a3e', values: tl.map((p) => p.p50) },
          { name: 'p90', color: '#1c7ed6', values: tl.map((p) => p.p90) },
          { name: 'p99', color: '#e67700', values: tl.map((p) => p.p99) },
          { name: 'max', color: '#c92a2a', values: tl.map((p) => p.max) },
          { name: 'ack p99', color: '#7048e8', values: tl.map((p) => p.ackP99) },
        ],
        phases,
        { log: true },
      ),
      lineChart(
        'Throughput',
        'messages / s',
        xs,
        [
          { name: 'sent', color: '#1c7ed6', values: tl.map((p) => p.sent) },
          { name: 'acknowledged', color: '#7048e8', values: tl.map((p) => p.acked) },
          { name: 'delivered', color: '#2b8a3e', values: tl.map((p) => p.delivered) },
          { name: 'typing', color: '#adb5bd', values: tl.map((p) => p.typing) },
        ],
        phases,
      ),
    );
  }
  charts.push(
    lineChart(
      'Connections',
      'connections',
      xs,
      [
        { name: 'open (generator)', color: '#1c7ed6', values: tl.map((p) => p.open) },
        { name: 'all joined', color: '#2b8a3e', values: tl.map((p) => p.ready) },
        { name: 'server gauge', color: '#e67700', values: tl.map((p) => p.serverConnections) },
      ],
      phases,
    ),
    lineChart(
      'CPU',
      '% of one core',
      xs,
      [
        { name: 'server', color: '#c92a2a', values: tl.map((p) => p.serverCpuPct) },
        { name: 'generator', color: '#1c7ed6', values: tl.map((p) => p.generatorCpuPct) },
        { name: 'machine busy', color: '#adb5bd', values: tl.map((p) => p.machineBusyPct * r.tool.cores) },
      ],
      phases,
    ),
    lineChart(
      'Server memory',
      'RSS, MB',
      xs,
      [{ name: 'server RSS', color: '#7048e8', values: tl.map((p) => p.serverRssMb) }],
      phases,
    ),
  );
  if (tl.some((p) => p.errors > 0 || p.closes > 0)) {
    charts.push(
      lineChart(
        'Errors and closes',
        'per second',
        xs,
        [
          { name: 'error frames', color: '#c92a2a', values: tl.map((p) => p.errors) },
          { name: 'closes', color: '#e67700', values: tl.map((p) => p.closes) },
        ],
        phases,
      ),
    );
  }
  const lat: (string | number)[][] = [];
  const row = (name: string, s: LatencySummary) => lat.push([name, s.p50, s.p90, s.p99, s.p999, s.max, s.count]);
  if (r.latency.delivery.count) row('delivery', r.latency.delivery);
  if (r.slow) {
    row('delivery, kept reading', r.latency.deliveryUnaffected);
    row('delivery, stalled readers', r.latency.deliverySlow);
  }
  if (r.latency.ack.count) row('ack', r.latency.ack);
  row('connect → welcome', r.latency.connect);
  if (r.latency.joined.count) row('connect → all joined', r.latency.joined);
  if (r.latency.resume.count) row('resume after a drop', r.latency.resume);
  const c = r.check;
  const pass = r.exitCode === 0;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>therapy-chat load test: ${esc(r.scenario)} ${esc(r.startedAt)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:820px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}.verdict{padding:10px;border-radius:6px;font-weight:600}
.pass{background:#d3f9d8}.fail{background:#ffe3e3}.warn{color:#a35200}svg{display:block;margin:12px 0}
code{background:#f1f3f5;padding:1px 4px}
</style></head><body>
<h1>therapy-chat load test: ${esc(r.scenario)}${r.scenario !== r.workload ? ` (${esc(r.workload)})` : ''}${r.label ? ` — ${esc(r.label)}` : ''}</h1>
<p>${esc(r.startedAt)} → ${esc(r.finishedAt)}; ${esc(r.target.kind)}${r.target.startedByTool ? ' started by the tool' : ''} at <code>${esc(r.target.urls.join(', '))}</code>; Node ${esc(r.tool.node)}, ${r.tool.cores} cores.
Measurement window: ${r.window.seconds} s (${esc(r.window.note)}).</p>
<div class="verdict ${pass ? 'pass' : 'fail'}">${esc(r.verdict)} (exit code ${r.exitCode})</div>
<h2>Delivery check</h2>
${htmlTable(
  [
    ['acknowledged messages', c.acked],
    ['participants', c.participants],
    ['deliveries owed', c.expectedDeliveries],
    ['msg frames received', c.received],
    ['lost', c.lost],
    ['duplicated', c.duplicated],
    ['out of order', c.outOfOrder],
    ['mismatched (participants disagree on the order)', c.mismatched],
    ['ack conflicts (one clientMsgId, two seqs)', c.ackConflicts],
    ['unacknowledged at the end', c.unackedAtEnd],
  ],
  ['check', 'count'],
)}
${c.examples.length ? `<p>First violations:</p><ul>${c.examples.map((e) => `<li><code>${esc(e)}</code></li>`).join('')}</ul>` : ''}
<h2>Summary</h2>
${htmlTable(
  [
    ['connections open (peak) / planned', `${r.connections.peakOpen} / ${r.connections.planned}`],
    ['connect time, rate', `${r.connections.connectSeconds} s, ${r.connections.connectRatePerS}/s`],
    ...(r.workload !== 'connect'
      ? [
          ['messages sent / acknowledged per s', `${r.throughput.sentPerS} / ${r.throughput.ackedPerS}`],
          ['messages delivered to others per s', r.throughput.deliveredPerS],
          ['typing indicators delivered per s', r.throughput.typingDeliveredPerS],
          ['server CPU per delivered message', `${r.server.cpuUsPerDelivered} µs`],
        ]
      : []),
    ['server CPU', `${r.server.cpuPctOfCore}% of a core (from ${r.server.source})`],
    ['server RSS baseline → end', `${r.server.rssBaselineMb} → ${r.server.rssEndMb} MB`],
    ['server RSS per connection', `${r.server.rssPerConnectionKb} KiB`],
    ['server RSS per added connection (after the first 40 %)', `${r.server.rssPerAddedConnectionKb} KiB`],
    ['server log warnings / errors', `${r.server.logWarnings} / ${r.server.logErrors}`],
    ['generator CPU per worker', r.generator.cpuPctPerWorker.map((p) => `${p}%`).join(', ')],
    ['generator event-loop delay p99 (max)', `${r.generator.maxLoopDelayMs} ms`],
  ],
  ['measure', 'value'],
)}
<h2>Latency (ms)</h2>
${htmlTable(lat, ['', 'p50', 'p90', 'p99', 'p99.9', 'max', 'count'])}
${
  r.storm
    ? `<h2>Reconnect storm</h2>${htmlTable([
        ['how', r.storm.how],
        ['connections cut', r.storm.cut],
        ['users dropped', r.storm.observedDrops],
        ['resumed', r.storm.resumed],
        ['still down at the end', r.storm.stillDown],
        ['time until all resumed', `${r.storm.timeToAllResumedMs} ms`],
      ])}`
    : ''
}
${
  r.slow
    ? `<h2>Slow consumers</h2>${htmlTable([
        ['stalled readers', r.slow.sessions],
        ['cut with 4200', r.slow.cutWith4200],
        ['resumed', r.slow.resumed],
        ['others: delivery p99 before the stall', `${r.slow.unaffectedP99BeforeMs} ms`],
        ['others: delivery p99 during the stall', `${r.slow.unaffectedP99DuringMs} ms`],
        ['readers wrongly cut', r.slow.unaffected4200],
      ])}`
    : ''
}
<h2>Charts</h2>
<p>Shaded: connecting (yellow) and draining (grey). Latency is drawn on a log scale.</p>
${charts.join('\n')}
<h2>Errors and closes</h2>
${htmlTable(
  [
    ...Object.entries(r.totals.errors).map(([k, v]) => [`error ${k}`, v]),
    ...Object.entries(r.totals.closes).map(([k, v]) => [`close ${k}`, v]),
  ],
  ['code', 'count'],
)}
${r.warnings.length ? `<h2>Warnings</h2><ul>${r.warnings.map((x) => `<li class="warn">${esc(x)}</li>`).join('')}</ul>` : ''}
${r.fatal.length ? `<h2>Problems</h2><ul>${r.fatal.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}
<h2>Run</h2>
<pre>${esc(JSON.stringify({ options: r.options, serverEnv: r.target.serverEnv, notes: r.notes, serverMetrics: r.server.metrics }, null, 2))}</pre>
</body></html>
`;
}

/** Writes `<stamp>-<scenario>.json` and `.html` into `dir`; returns their paths. */
export function writeReports(r: RunResult, dir: string): { json: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = path.join(dir, `${stamp}-${r.scenario}${r.label ? `-${r.label.replace(/[^\w.-]+/g, '_')}` : ''}`);
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(`${base}.html`, htmlReport(r));
  return { json: `${base}.json`, html: `${base}.html` };
}
