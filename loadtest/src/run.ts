/**
 * The coordinator: starts (or finds) the system under test, seeds people, hands plans to generator workers, runs
 * the scenario's events (a reconnect storm, stalled readers), samples server and generator resources once a second,
 * and turns it all into one result.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type CheckResult, mergeResults, violations } from './checker.js';
import { addEncoded, type LatencySummary, newHistogram, summarize } from './histogram.js';
import { CORES, type Options } from './options.js';
import { addCounts, type Counts, emptyCounts, type Final, type FromWorker, type Tick, type ToWorker } from './plan.js';
import { buildPlans, type Mint } from './plans.js';
import { createTempDatabase, DEFAULT_POSTGRES } from './pgdb.js';
import { loadtestEntry } from './paths.js';
import { CuttingProxy } from './proxy.js';
import { fakeSessions, fakeToken, type SeededSession, seedSessions, tokenMinter } from './seed.js';
import {
  fileLimits,
  httpBase,
  machineJiffies,
  type NodeProcess,
  procUsage,
  scrapeMetrics,
  spawnNode,
  startNode,
} from './target.js';

export interface TimelinePoint {
  /** Seconds since the run started (connecting began). */
  readonly t: number;
  readonly phase: 'connect' | 'run' | 'drain';
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly typing: number;
  readonly errors: number;
  readonly closes: number;
  readonly open: number;
  readonly ready: number;
  /** Delivery latency over this second, ms. */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly ackP99: number;
  readonly serverCpuPct: number;
  readonly serverRssMb: number;
  readonly serverConnections: number;
  readonly generatorCpuPct: number;
  readonly machineBusyPct: number;
  readonly generatorLoopDelayMs: number;
}

export interface RunResult {
  readonly tool: { readonly node: string; readonly cores: number; readonly host: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly scenario: string;
  readonly workload: string;
  readonly label: string;
  readonly options: Record<string, unknown>;
  readonly target: {
    readonly kind: 'server' | 'relay';
    readonly startedByTool: boolean;
    readonly urls: readonly string[];
    readonly serverEnv: Record<string, string>;
  };
  readonly window: { readonly seconds: number; readonly note: string };
  readonly throughput: {
    readonly sentPerS: number;
    readonly ackedPerS: number;
    readonly deliveredPerS: number;
    readonly typingDeliveredPerS: number;
  };
  readonly latency: {
    readonly delivery: LatencySummary;
    readonly deliveryUnaffected: LatencySummary;
    readonly deliverySlow: LatencySummary;
    readonly ack: LatencySummary;
    readonly connect: LatencySummary;
    readonly joined: LatencySummary;
    readonly resume: LatencySummary;
  };
  readonly connections: {
    readonly planned: number;
    readonly peakOpen: number;
    readonly connectSeconds: number;
    readonly connectRatePerS: number;
    readonly connectFailures: number;
  };
  readonly totals: Counts;
  readonly server: {
    readonly source: 'proc' | 'metrics' | 'none';
    readonly cpuPctOfCore: number;
    readonly cpuUsPerDelivered: number;
    readonly rssBaselineMb: number;
    readonly rssEndMb: number;
    readonly rssPerConnectionKb: number;
    /**
     * RSS per connection added after the first 40 % were open (from the timeline: the RSS at the first second with
     * ≥ 40 % open to the RSS at the peak, over the connections in between). Leaves out what a process takes once,
     * whatever the number of connections (its young generation filling, code, caches). 0 when not measurable.
     */
    readonly rssPerAddedConnectionKb: number;
    readonly logWarnings: number;
    readonly logErrors: number;
    readonly metrics: Record<string, number>;
    readonly profiles: readonly string[];
    /** The measurement window on the monotonic clock (µs), to cut CPU profiles to it. */
    readonly windowMonoUs: { readonly fromUs: number; readonly toUs: number };
  };
  readonly generator: {
    readonly workers: number;
    readonly cpuPctPerWorker: readonly number[];
    readonly coordinatorCpuPct: number;
    readonly maxLoopDelayMs: number;
    readonly rssMb: number;
  };
  readonly check: CheckResult & { readonly unackedAtEnd: number; readonly outstandingAtEnd: number };
  readonly storm?: {
    readonly how: string;
    readonly cut: number;
    readonly observedDrops: number;
    readonly resumed: number;
    readonly stillDown: number;
    readonly timeToAllResumedMs: number;
  };
  readonly slow?: {
    readonly sessions: number;
    readonly cutWith4200: number;
    readonly resumed: number;
    readonly unaffectedP99BeforeMs: number;
    readonly unaffectedP99DuringMs: number;
    readonly unaffected4200: number;
  };
  readonly fatal: readonly string[];
  readonly warnings: readonly string[];
  readonly notes: readonly string[];
  readonly exitCode: number;
  readonly verdict: string;
  readonly timeline: readonly TimelinePoint[];
}

interface NodeInfo {
  readonly name: string;
  wsUrl: string;
  httpUrl: string;
  proc: NodeProcess | undefined;
  /** CPU seconds of earlier processes of this node (restarts). */
  cpuBase: number;
  lastCpu: number;
  lastRss: number;
  metrics: Map<string, number> | undefined;
}

interface WorkerHandle {
  readonly index: number;
  readonly child: ChildProcess;
  ready: boolean;
  readyAt: number;
  connectStartedAt: number;
  final: Final | undefined;
  failed: string | undefined;
  cpuUsWindow: number;
  loopDelayMax: number;
  rss: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Log = (line: string) => void;

export async function run(opts: Options, log: Log): Promise<RunResult> {
  const startedAt = new Date();
  const warnings: string[] = [];
  const notes: string[] = [];
  const fatal: string[] = [];
  const w = opts.workload;
  const startedByTool = opts.urls.length === 0;
  const profileDir = opts.cpuProf ? path.join(opts.outDir, 'profiles') : undefined;

  // Generator workers start now (they wait for their plans), so that their start-up overlaps the seeding.
  const estimatedConnections =
    w === 'connect'
      ? opts.connections
      : w === 'messages'
        ? opts.threads + Math.ceil(opts.threads / opts.caseload)
        : 2 * opts.sessions;
  const estimatedFds = Math.ceil(estimatedConnections / opts.workers) + 64;
  const workers: WorkerHandle[] = [];
  const onMessage = (h: WorkerHandle, m: FromWorker) => {
    switch (m.type) {
      case 'ready':
        h.ready = true;
        h.readyAt = m.at;
        h.connectStartedAt = m.connectStartedAt;
        return;
      case 'tick':
        ticks.push(m);
        return;
      case 'final':
        h.final = m;
        return;
      case 'failed':
        h.failed = m.error;
        fatal.push(`generator worker ${h.index} failed: ${m.error.split('\n')[0]}`);
        return;
    }
  };
  const ticks: Tick[] = [];
  for (let index = 0; index < opts.workers; index++) {
    const child = spawnNode([loadtestEntry('worker')], { env: process.env, fdLimit: estimatedFds, ipc: true });
    const h: WorkerHandle = {
      index,
      child,
      ready: false,
      readyAt: 0,
      connectStartedAt: 0,
      final: undefined,
      failed: undefined,
      cpuUsWindow: 0,
      loopDelayMax: 0,
      rss: 0,
    };
    const errLines: string[] = [];
    child.stderr!.on('data', (b: Buffer) => errLines.push(b.toString('utf8')));
    child.on('message', (m: FromWorker) => onMessage(h, m));
    child.on('exit', (code) => {
      if (!h.final && code !== 0) {
        h.failed ??= `exited with ${code}: ${errLines.join('').slice(-500)}`;
        fatal.push(`generator worker ${h.index} exited (${code}) before reporting: ${errLines.join('').slice(-300)}`);
      }
    });
    workers.push(h);
  }

  // ------------------------------------------------------------------------------ people
  const sessionCount =
    w === 'connect' ? Math.ceil(opts.connections / 2) : w === 'messages' ? opts.threads : opts.sessions;
  const caseload = w === 'messages' ? opts.caseload : 1;
  const relay = opts.target === 'relay';
  let dataDir = opts.dataDir;
  let tempDir: string | undefined;
  if (!relay && !dataDir) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-loadtest-'));
    dataDir = tempDir;
  }
  let clusterDb: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  if (opts.startNodes > 0) {
    if (opts.databaseUrl) clusterDb = opts.databaseUrl;
    else {
      const db = await createTempDatabase(process.env.DATABASE_URL_TEST ?? DEFAULT_POSTGRES);
      clusterDb = db.url;
      dropDb = db.drop;
      notes.push(
        `nodes use a throwaway PostgreSQL database (${new URL(db.url).pathname.slice(1)}), dropped at the end`,
      );
    }
  }
  let sessions: SeededSession[];
  let mint: Mint;
  const t0 = performance.now();
  if (relay) {
    sessions = fakeSessions(sessionCount, caseload);
    mint = fakeToken;
  } else if (w === 'connect' && !opts.join) {
    sessions = fakeSessions(sessionCount, 1);
    mint = await tokenMinter(dataDir!);
  } else {
    log(
      `seeding ${sessionCount} cases with live appointments${clusterDb || (opts.urls.length && opts.databaseUrl) ? ' in PostgreSQL' : ''}…`,
    );
    sessions = await seedSessions(
      { dataDir: dataDir!, databaseUrl: clusterDb ?? (opts.urls.length > 0 ? opts.databaseUrl : undefined) },
      sessionCount,
      caseload,
    );
    mint = await tokenMinter(dataDir!);
  }
  notes.push(`seeded ${sessions.length} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // ------------------------------------------------------------------------------ plans (for the server's limits)
  const hardLimitMs = (opts.durationS + opts.drainS + 600) * 1000;
  const placeholderUrls =
    opts.urls.length > 0
      ? opts.urls
      : Array.from({ length: Math.max(1, opts.startNodes) }, (_, i) => `ws://placeholder/${i}`);
  const built = await buildPlans(opts, sessions, mint, placeholderUrls, hardLimitMs);
  const connections = built.connections;

  // ------------------------------------------------------------------------------ limits of this machine
  const perWorkerFds = Math.ceil(connections / opts.workers) + 64;
  const serverFds = connections + 256;
  const limits = fileLimits();
  notes.push(
    `open files: soft limit ${limits.soft}, hard ${limits.hard}; needs ~${perWorkerFds} per generator worker${startedByTool ? ` and ~${serverFds} for the server` : ''}`,
  );
  if (Math.max(perWorkerFds, startedByTool ? serverFds : 0) > limits.hard) {
    warnings.push(
      `the hard open-files limit (${limits.hard}) is below what this run needs (~${Math.max(perWorkerFds, serverFds)}): connections will fail with EMFILE. Raise it (ulimit -Hn, /etc/security/limits.conf or the container's nofile) or use more --workers`,
    );
  } else if (Math.max(perWorkerFds, startedByTool ? serverFds : 0) > limits.soft) {
    notes.push(`the soft open-files limit is raised for the child processes (sh -c 'ulimit -n …; exec node …')`);
  }
  try {
    const [lo, hi] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = (hi ?? 0) - (lo ?? 0);
    const needed = connections * (w === 'reconnect-storm' && opts.how === 'cut' ? 2 : 1);
    if (needed > ports * 0.8) {
      warnings.push(
        `${needed} connections from 127.0.0.1 need most of the ${ports} ephemeral ports (ip_local_port_range): expect EADDRNOTAVAIL`,
      );
    }
  } catch {
    // not Linux
  }

  // ------------------------------------------------------------------------------ the system under test
  const serverEnv: Record<string, string> = {};
  if (startedByTool || opts.startNodes > 0) {
    const fps = Math.max(20, Math.ceil(built.maxFramesPerConnection * 4) + 10);
    Object.assign(serverEnv, {
      DATA_DIR: dataDir ?? '',
      LOG_LEVEL: 'info',
      FRAMES_PER_SECOND: String(fps),
      FRAME_BURST: String(Math.max(40, fps * 2)),
      MAX_CONVERSATIONS_PER_CONNECTION: String(Math.max(10, caseload)),
    });
    if (w === 'slow-consumers') {
      // The smallest outbound cap the server accepts, so that a stalled reader passes it in seconds.
      Object.assign(serverEnv, { MAX_TEXT_LENGTH: '3000', MAX_FRAME_BYTES: '16384', MAX_OUTBOUND_BYTES: '65536' });
    }
    if (opts.startNodes > 0) {
      Object.assign(serverEnv, {
        DATABASE_URL: clusterDb!,
        REDIS_URL: opts.redisUrl ?? process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379',
      });
    }
    Object.assign(serverEnv, opts.serverEnv);
  }
  const nodes: NodeInfo[] = [];
  const startOne = async (name: string, port?: number) =>
    startNode({
      kind: relay ? 'relay' : 'server',
      name,
      env: serverEnv,
      cpuProfDir: profileDir,
      fdLimit: serverFds,
      port,
    });
  if (startedByTool) {
    const count = Math.max(1, opts.startNodes);
    for (let i = 0; i < count; i++) {
      const p = await startOne(count > 1 ? `node ${i + 1}` : relay ? 'relay' : 'server');
      nodes.push({
        name: p.name,
        wsUrl: p.wsUrl,
        httpUrl: p.httpUrl,
        proc: p,
        cpuBase: 0,
        lastCpu: 0,
        lastRss: 0,
        metrics: undefined,
      });
    }
    log(
      `started ${nodes.length === 1 ? nodes[0]!.name : `${nodes.length} nodes`} (pid ${nodes.map((n) => n.proc!.pid).join(', ')}) on ${nodes.map((n) => n.wsUrl).join(', ')}`,
    );
  } else {
    opts.urls.forEach((u, i) =>
      nodes.push({
        name: `node ${i + 1}`,
        wsUrl: u,
        httpUrl: httpBase(u),
        proc: undefined,
        cpuBase: 0,
        lastCpu: 0,
        lastRss: 0,
        metrics: undefined,
      }),
    );
    notes.push(
      `remote target: server CPU and memory come from each node's /metrics; the tool respects its limits (default 20 frames/s per connection, and this plan sends up to ${built.maxFramesPerConnection.toFixed(1)} per connection) and backs off on RATE_LIMITED`,
    );
  }

  // Proxies for cutting connections.
  const proxies: CuttingProxy[] = [];
  let workerUrls = nodes.map((n) => n.wsUrl);
  if (w === 'reconnect-storm' && opts.how === 'cut') {
    workerUrls = [];
    for (const n of nodes) {
      const u = new URL(n.wsUrl);
      const proxy = new CuttingProxy(u.hostname, Number(u.port || 80));
      const port = await proxy.listen();
      proxies.push(proxy);
      workerUrls.push(`ws://127.0.0.1:${port}${u.pathname}`);
    }
  }
  const plans = built.plans.map((p) => ({ ...p, urls: workerUrls }));

  // ------------------------------------------------------------------------------ sampling
  // /metrics costs the server about 1% of a core when read every second: for processes of our own, whose CPU and
  // memory come from /proc, it is read every 5 s (for the connection gauge and the final figures).
  let scrapes = 0;
  const sampleNodes = async (force = false): Promise<{ cpu: number; rss: number; conns: number }> => {
    let cpu = 0;
    let rss = 0;
    let conns = 0;
    const scrape = force || !startedByTool || scrapes++ % 5 === 0;
    await Promise.all(
      nodes.map(async (n) => {
        if (scrape || !n.metrics) n.metrics = (await scrapeMetrics(n.httpUrl)) ?? n.metrics;
        const u = n.proc ? procUsage(n.proc.pid) : undefined;
        if (u) {
          n.lastCpu = u.cpuSeconds;
          n.lastRss = u.rss;
        } else if (!n.proc && n.metrics) {
          n.lastCpu = n.metrics.get('process_cpu_seconds_total') ?? 0;
          n.lastRss = n.metrics.get('process_resident_memory_bytes') ?? 0;
        }
        cpu += n.cpuBase + n.lastCpu;
        rss += n.lastRss;
        conns += n.metrics?.get('tc_connections') ?? 0;
      }),
    );
    return { cpu, rss, conns };
  };
  const source: RunResult['server']['source'] = startedByTool
    ? 'proc'
    : nodes.some((n) => n.metrics)
      ? 'metrics'
      : 'metrics';
  await sleep(200);
  const baseline = await sampleNodes();

  // ------------------------------------------------------------------------------ workers
  const tell = (m: ToWorker) => {
    for (const h of workers) if (h.child.connected) h.child.send(m);
  };
  // Workers left without users (fewer users than workers) are let go.
  for (const h of workers.filter((x) => !plans.some((p) => p.worker === x.index)))
    h.child.send({ type: 'exit' } satisfies ToWorker);
  workers.splice(0, workers.length, ...workers.filter((x) => plans.some((p) => p.worker === x.index)));
  const runStart = performance.now();
  for (const plan of plans)
    workers.find((h) => h.index === plan.worker)!.child.send({ type: 'plan', plan } satisfies ToWorker);

  // ------------------------------------------------------------------------------ the timeline
  const timeline: TimelinePoint[] = [];
  const tickHistograms: { at: number; normal: string[] }[] = [];
  let phase: TimelinePoint['phase'] = 'connect';
  let lastSample = performance.now();
  let lastServerCpu = baseline.cpu;
  let lastMachine = machineJiffies();
  let coordCpu = process.cpuUsage();
  let peakOpen = 0;
  const totals = emptyCounts();
  const windowCounts = emptyCounts();
  let windowStart = Infinity;
  let windowEnd = Infinity;
  const openByWorker = new Map<number, number>();
  const readyByWorker = new Map<number, number>();
  let lastPoint: TimelinePoint | undefined;
  const progressLine = (text: string) => {
    if (opts.progress) process.stderr.write(`\r\x1b[2K${text}`);
  };

  const sample = async () => {
    const now = performance.now();
    const dt = (now - lastSample) / 1000;
    lastSample = now;
    const batch = ticks.splice(0);
    const counts = emptyCounts();
    const d = newHistogram();
    const a = newHistogram();
    let genCpuUs = 0;
    let loopDelay = 0;
    const normals: string[] = [];
    for (const t of batch) {
      addCounts(counts, t.counts);
      addEncoded(d, t.delivery);
      addEncoded(a, t.ack);
      normals.push(t.deliveryNormal);
      genCpuUs += t.cpuUs;
      loopDelay = Math.max(loopDelay, t.loopDelayP99);
      openByWorker.set(t.worker, t.open);
      readyByWorker.set(t.worker, t.ready);
      const h = workers.find((x) => x.index === t.worker);
      if (h) {
        h.rss = t.rss;
        if (t.at > windowStart && t.at <= windowEnd + 500) {
          h.cpuUsWindow += t.cpuUs;
          h.loopDelayMax = Math.max(h.loopDelayMax, t.loopDelayP99);
        }
      }
      if (t.at > windowStart && t.at <= windowEnd + 500) addCounts(windowCounts, t.counts);
    }
    tickHistograms.push({ at: Date.now(), normal: normals });
    addCounts(totals, counts);
    const server = await sampleNodes();
    const machine = machineJiffies();
    const busy =
      machine && lastMachine && machine.total > lastMachine.total
        ? (100 * (machine.busy - lastMachine.busy)) / (machine.total - lastMachine.total)
        : 0;
    lastMachine = machine;
    const c = process.cpuUsage(coordCpu);
    coordCpu = process.cpuUsage();
    const open = [...openByWorker.values()].reduce((x, y) => x + y, 0);
    peakOpen = Math.max(peakOpen, open);
    const ds = summarize(d);
    const point: TimelinePoint = {
      t: Math.round((now - runStart) / 100) / 10,
      phase,
      sent: counts.sent,
      acked: counts.acked,
      delivered: counts.delivered,
      typing: counts.typingReceived,
      errors: Object.values(counts.errors).reduce((x, y) => x + y, 0),
      closes: Object.values(counts.closes).reduce((x, y) => x + y, 0),
      open,
      ready: [...readyByWorker.values()].reduce((x, y) => x + y, 0),
      p50: ds.p50,
      p90: ds.p90,
      p99: ds.p99,
      max: ds.max,
      ackP99: summarize(a).p99,
      serverCpuPct: dt > 0 ? Math.round(((server.cpu - lastServerCpu) / dt) * 1000) / 10 : 0,
      serverRssMb: Math.round(server.rss / 1e5) / 10,
      serverConnections: server.conns,
      generatorCpuPct: dt > 0 ? Math.round(((genCpuUs + c.user + c.system) / 1e6 / dt) * 1000) / 10 : 0,
      machineBusyPct: Math.round(busy * 10) / 10,
      generatorLoopDelayMs: Math.round(loopDelay * 10) / 10,
    };
    d.destroy();
    a.destroy();
    lastServerCpu = server.cpu;
    timeline.push(point);
    lastPoint = point;
    progressLine(
      `[${opts.scenario}] ${point.t.toFixed(0)}s ${phase}  conns ${open}/${connections}  sent ${point.sent}/s  delivered ${point.delivered}/s  p99 ${point.p99.toFixed(1)} ms  server ${point.serverCpuPct.toFixed(0)}% ${point.serverRssMb.toFixed(0)} MB  generator ${point.generatorCpuPct.toFixed(0)}%  errors ${point.errors}`,
    );
  };
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling) return;
    sampling = true;
    sample()
      .catch((err: unknown) => warnings.push(`sampling failed: ${String(err)}`))
      .finally(() => (sampling = false));
  }, 1000);

  // ------------------------------------------------------------------------------ connect
  const connectBudgetMs = (connections / opts.connectRate) * 2000 + 30_000;
  const connectUntil = performance.now() + connectBudgetMs;
  while (workers.some((h) => !h.ready && !h.failed) && performance.now() < connectUntil) await sleep(50);
  const connectSeconds = workers.every((h) => h.ready)
    ? (Math.max(...workers.map((h) => h.readyAt)) - Math.min(...workers.map((h) => h.connectStartedAt))) / 1000
    : (performance.now() - runStart) / 1000;
  if (workers.some((h) => !h.ready)) {
    const ready = lastPoint?.ready ?? 0;
    fatal.push(
      `not every virtual user connected and joined within ${Math.round(connectBudgetMs / 1000)} s (last count: ${ready} of ${connections})`,
    );
  }
  log(`connected ${connections} connections in ${connectSeconds.toFixed(1)} s`);

  // ------------------------------------------------------------------------------ run
  phase = 'run';
  const goAt = Date.now();
  tell({ type: 'go', at: goAt });
  windowStart = goAt + (w === 'connect' ? 0 : opts.warmupS * 1000);
  windowEnd = goAt + opts.durationS * 1000;
  let winStartServer: { cpu: number; rss: number; conns: number } | undefined;
  let winStartMono = 0;
  const coordWinStart = process.cpuUsage();
  const events: Promise<void>[] = [];
  events.push(
    (async () => {
      await sleep(windowStart - Date.now());
      winStartMono = Number(process.hrtime.bigint() / 1000n);
      winStartServer = await sampleNodes();
    })(),
  );
  let stormCut = 0;
  let stormAt = 0;
  if (w === 'reconnect-storm') {
    events.push(
      (async () => {
        await sleep(opts.stormAtS * 1000);
        stormAt = Date.now();
        if (opts.how === 'cut') {
          for (const p of proxies) stormCut += p.cut(opts.dropPercent / 100);
          log(`storm: cut ${stormCut} connections (${opts.dropPercent}%) at the proxy`);
        } else {
          const n = nodes[0]!;
          const old = n.proc!;
          stormCut = connections;
          const u = procUsage(old.pid);
          await old.stop();
          n.cpuBase += u?.cpuSeconds ?? n.lastCpu;
          n.lastCpu = 0;
          const p = await startOne(n.name, old.port);
          n.proc = p;
          log(`storm: restarted the server in ${Date.now() - stormAt} ms (every connection dropped)`);
        }
      })(),
    );
  }
  const failedEarly = () => workers.every((h) => h.failed);
  while (Date.now() < windowEnd && !failedEarly()) await sleep(100);
  const winEndMono = Number(process.hrtime.bigint() / 1000n);
  const winEndServer = await sampleNodes(true);
  const c = process.cpuUsage(coordWinStart);
  const coordWinUs = c.user + c.system;
  await Promise.all(events);

  // ------------------------------------------------------------------------------ drain
  phase = 'drain';
  tell({ type: 'stop', drainMs: opts.drainS * 1000 });
  const finalUntil = performance.now() + opts.drainS * 6000 + 20_000;
  while (workers.some((h) => !h.final && !h.failed) && performance.now() < finalUntil) await sleep(50);
  clearInterval(sampler);
  while (sampling) await sleep(10);
  await sample();
  progressLine('');
  if (opts.progress) process.stderr.write('\r\x1b[2K');
  tell({ type: 'exit' });
  await sleep(100);
  for (const h of workers) if (h.child.exitCode === null) h.child.kill('SIGKILL');
  for (const p of proxies) await p.close();
  const serverLogs = { warn: 0, error: 0 };
  for (const n of nodes) {
    if (!n.proc) continue;
    await n.proc.stop();
    serverLogs.warn += n.proc.logCounts.warn;
    serverLogs.error += n.proc.logCounts.error;
  }
  if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  if (dropDb)
    await dropDb().catch((err: unknown) => warnings.push(`could not drop the throwaway database: ${String(err)}`));

  // ------------------------------------------------------------------------------ results
  const finals = workers.map((h) => h.final).filter((f): f is Final => f !== undefined);
  const merge = (k: 'delivery' | 'deliveryNormal' | 'deliverySlow' | 'ack' | 'connect' | 'joined' | 'resume') => {
    const h = newHistogram();
    for (const f of finals) addEncoded(h, f[k]);
    const s = summarize(h);
    h.destroy();
    return s;
  };
  const check = mergeResults(finals.map((f) => f.check));
  const sum = (k: 'unacked' | 'outstanding' | 'drops' | 'resumed' | 'down' | 'slowCut' | 'slowResumed') =>
    finals.reduce((n, f) => n + f[k], 0);
  for (const f of finals) fatal.push(...f.fatal);
  const workerTotals = emptyCounts();
  for (const f of finals) addCounts(workerTotals, f.totals);
  const windowS = Math.max(0.001, (Math.min(windowEnd, Date.now()) - windowStart) / 1000);
  const deliveredPerS = windowCounts.delivered / windowS;
  const serverCpuS = winStartServer && winEndServer ? winEndServer.cpu - winStartServer.cpu : 0;
  const cpuPct = (serverCpuS / windowS) * 100;
  const rssEnd = winEndServer?.rss ?? 0;
  const openAtEnd = lastPoint?.open ?? 0;
  const cpuPerWorker = workers.map((h) => Math.round((h.cpuUsWindow / 1e6 / windowS) * 1000) / 10);
  const maxLoop = Math.max(0, ...workers.map((h) => h.loopDelayMax));
  const lat = {
    delivery: merge('delivery'),
    deliveryUnaffected: merge('deliveryNormal'),
    deliverySlow: merge('deliverySlow'),
    ack: merge('ack'),
    connect: merge('connect'),
    joined: merge('joined'),
    resume: merge('resume'),
  };

  // Warnings: is the generator, not the server, the bottleneck?
  cpuPerWorker.forEach((pct, i) => {
    if (pct > 85) {
      warnings.push(
        `generator worker ${i} used ${pct}% of a core: the generator, not the server, may be what limits throughput and inflates latency; run with more --workers (this machine has ${CORES} cores)`,
      );
    }
  });
  if (maxLoop > 50) {
    warnings.push(`generator event loop ran up to ${maxLoop.toFixed(0)} ms late (p99): latencies include that delay`);
  }
  const busyPoints = timeline.filter((p) => p.phase === 'run' && p.machineBusyPct > 95).length;
  const runPoints = timeline.filter((p) => p.phase === 'run').length;
  if (runPoints > 0 && busyPoints / runPoints > 0.5) {
    warnings.push(
      `the machine's ${CORES} cores were over 95% busy for most of the run: server and generator compete for CPU, so the server figures are a lower bound of what it does on its own machine`,
    );
  }
  if (workerTotals.skipped > 0) {
    warnings.push(
      `${workerTotals.skipped} messages were not generated because a sender already had ${opts.maxInflight} unacknowledged: the system could not keep up with --rate ${opts.rate}`,
    );
  }
  const rateLimited = workerTotals.errors.RATE_LIMITED ?? 0;
  if (rateLimited > 0) {
    warnings.push(
      `the server answered RATE_LIMITED ${rateLimited} times (frames per second per connection): the generator waited and resent`,
    );
  }
  const others =
    runPoints > 0
      ? timeline
          .filter((p) => p.phase === 'run')
          .reduce((n, p) => n + Math.max(0, p.machineBusyPct * CORES - p.serverCpuPct - p.generatorCpuPct), 0) /
        runPoints
      : 0;
  if (startedByTool && others > 25) {
    warnings.push(
      `other processes on this machine used about ${Math.round(others)}% of a core during the run (machine busy minus server and generator): the figures are noisier and lower than on a quiet machine`,
    );
  }
  if (serverLogs.error > 0) warnings.push(`the server logged ${serverLogs.error} errors (level ≥ 50)`);

  const unacked = sum('unacked');
  const outstanding = sum('outstanding');
  const v = violations(check);
  const hasTraffic = w !== 'connect' && opts.rate > 0;
  if (hasTraffic && windowCounts.delivered === 0 && workerTotals.delivered === 0)
    fatal.push('no message was delivered');
  if (unacked > 0)
    fatal.push(
      `${unacked} messages were never acknowledged (the drain gave up after ${opts.drainS} s without progress)`,
    );
  if (workers.some((h) => !h.final)) fatal.push('a generator worker did not report its results');
  if (w === 'connect' && openAtEnd < connections * 0.999 && peakOpen < connections) {
    fatal.push(`only ${Math.max(peakOpen, openAtEnd)} of ${connections} connections were open`);
  }
  const uniqueFatal = [...new Set(fatal)];
  const exitCode = v > 0 ? 1 : uniqueFatal.length > 0 ? 2 : 0;
  const verdict =
    exitCode === 1
      ? `FAIL: ${check.lost} lost, ${check.duplicated} duplicated, ${check.outOfOrder} out of order, ${check.mismatched} mismatched, ${check.ackConflicts} ack conflicts`
      : exitCode === 2
        ? `INCOMPLETE: ${uniqueFatal[0]}`
        : w === 'connect'
          ? `PASS: ${Math.max(peakOpen, openAtEnd)} of ${connections} connections open${opts.join ? ' and joined' : ''}, nothing lost`
          : `PASS: every one of ${check.acked} acknowledged messages reached all ${check.participants} participants exactly once, in order`;

  // Slow consumers: were the others unaffected?
  let slow: RunResult['slow'];
  if (w === 'slow-consumers') {
    const stallStart = goAt + (opts.warmupS + 1) * 1000;
    const stallEnd = stallStart + opts.stallS * 1000;
    const range = (from: number, to: number) => {
      const h = newHistogram();
      for (const th of tickHistograms)
        if (th.at > from && th.at <= to + 1000) for (const e of th.normal) addEncoded(h, e);
      const s = summarize(h).p99;
      h.destroy();
      return s;
    };
    const unaffected4200 = Math.max(0, (workerTotals.closes['4200'] ?? 0) - sum('slowCut'));
    slow = {
      sessions: built.slowSessions,
      cutWith4200: sum('slowCut'),
      resumed: sum('slowResumed'),
      unaffectedP99BeforeMs: range(windowStart, stallStart),
      unaffectedP99DuringMs: range(stallStart, stallEnd),
      unaffected4200,
    };
    if (slow.cutWith4200 < slow.sessions) {
      warnings.push(
        `only ${slow.cutWith4200} of ${slow.sessions} stalled readers were cut with 4200 (the rest caught up within the stall: raise --stall or --slow-rate)`,
      );
    }
    if (slow.resumed < slow.cutWith4200)
      fatal.push(`${slow.cutWith4200 - slow.resumed} slow consumers cut with 4200 did not resume`);
    if (unaffected4200 > 0) warnings.push(`${unaffected4200} connections that kept reading were cut with 4200 too`);
  }
  let storm: RunResult['storm'];
  if (w === 'reconnect-storm') {
    const lastResume = Math.max(0, ...finals.map((f) => f.lastResumeAt));
    storm = {
      how: opts.how,
      cut: stormCut,
      observedDrops: sum('drops'),
      resumed: sum('resumed'),
      stillDown: sum('down'),
      timeToAllResumedMs: lastResume > 0 && stormAt > 0 ? lastResume - stormAt : 0,
    };
    if (storm.resumed < storm.observedDrops)
      fatal.push(`${storm.observedDrops - storm.resumed} dropped users never resumed`);
  }

  const windowNote =
    w === 'connect'
      ? `the hold after every connection was open (${opts.durationS} s)`
      : `from ${opts.warmupS} s after traffic started to the end of --duration ${opts.durationS} s`;
  return {
    tool: { node: process.version, cores: CORES, host: os.hostname() },
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    scenario: opts.scenario,
    workload: w,
    label: opts.name ?? '',
    options: {
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      workers: opts.workers,
      sessions: w === 'connect' ? undefined : sessionCount,
      connections,
      rate: w === 'connect' ? 0 : opts.rate,
      text: opts.text === 0 ? 'realistic' : opts.text,
      typing: opts.typing,
      connectRate: opts.connectRate,
      maxInflight: opts.maxInflight,
      ...(w === 'messages' && { caseload: opts.caseload }),
      ...(w === 'reconnect-storm' && { dropPercent: opts.dropPercent, stormAtS: opts.stormAtS, how: opts.how }),
      ...(w === 'slow-consumers' && {
        slowPercent: opts.slowPercent,
        stallS: opts.stallS,
        slowRate: opts.slowRate,
        slowText: opts.slowText,
      }),
    },
    target: { kind: opts.target, startedByTool, urls: nodes.map((n) => n.wsUrl), serverEnv },
    window: { seconds: Math.round(windowS * 10) / 10, note: windowNote },
    throughput: {
      sentPerS: Math.round(windowCounts.sent / windowS),
      ackedPerS: Math.round(windowCounts.acked / windowS),
      deliveredPerS: Math.round(deliveredPerS),
      typingDeliveredPerS: Math.round(windowCounts.typingReceived / windowS),
    },
    latency: lat,
    connections: {
      planned: connections,
      peakOpen,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      connectRatePerS: Math.round(connections / Math.max(0.001, connectSeconds)),
      connectFailures: workerTotals.connectFailures,
    },
    totals: workerTotals,
    server: {
      source: nodes.length === 0 ? 'none' : source,
      cpuPctOfCore: Math.round(cpuPct * 10) / 10,
      cpuUsPerDelivered: deliveredPerS > 0 ? Math.round(((serverCpuS * 1e6) / windowCounts.delivered) * 10) / 10 : 0,
      rssBaselineMb: Math.round(baseline.rss / 1e5) / 10,
      rssEndMb: Math.round(rssEnd / 1e5) / 10,
      rssPerConnectionKb:
        connections > 0 && rssEnd > 0
          ? Math.round(((rssEnd - baseline.rss) / 1024 / Math.max(1, Math.max(openAtEnd, peakOpen))) * 10) / 10
          : 0,
      rssPerAddedConnectionKb: rssPerAddedConnectionKb(timeline, connections),
      logWarnings: serverLogs.warn,
      logErrors: serverLogs.error,
      metrics: Object.fromEntries(
        [...(nodes[0]?.metrics?.entries() ?? [])].filter(([k]) =>
          /^(tc_messages_committed_total|tc_frames_shed_total|tc_commit_batch_size_(sum|count)|tc_commit_duration_seconds_(sum|count)|nodejs_eventloop_lag_p99_seconds|nodejs_heap_size_used_bytes|tc_errors_total.*)$/.test(
            k,
          ),
        ),
      ),
      windowMonoUs: { fromUs: winStartMono, toUs: winEndMono },
      profiles:
        profileDir && fs.existsSync(profileDir)
          ? fs
              .readdirSync(profileDir)
              .filter((f) => f.endsWith('.cpuprofile'))
              .map((f) => path.join(profileDir, f))
          : [],
    },
    generator: {
      workers: workers.length,
      cpuPctPerWorker: cpuPerWorker,
      coordinatorCpuPct: Math.round((coordWinUs / 1e6 / windowS) * 1000) / 10,
      maxLoopDelayMs: Math.round(maxLoop * 10) / 10,
      rssMb: Math.round(workers.reduce((n, h) => n + h.rss, 0) / 1e5) / 10,
    },
    check: { ...check, unackedAtEnd: unacked, outstandingAtEnd: outstanding },
    ...(storm && { storm }),
    ...(slow && { slow }),
    fatal: uniqueFatal,
    warnings,
    notes,
    exitCode,
    verdict,
    timeline,
  };
}

/** See `RunResult.server.rssPerAddedConnectionKb`. */
export function rssPerAddedConnectionKb(timeline: readonly TimelinePoint[], planned: number): number {
  const points = timeline.filter((p) => p.serverRssMb > 0 && p.open > 0);
  const from = points.find((p) => p.open >= planned * 0.4);
  let to = from;
  for (const p of points) if (to && p.open > to.open) to = p;
  if (!from || !to || to.open - from.open < planned * 0.2) return 0;
  return Math.round((((to.serverRssMb - from.serverRssMb) * 1024) / (to.open - from.open)) * 10) / 10;
}
