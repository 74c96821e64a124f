/** Command-line options of `npm run loadtest`, their defaults and their hard caps. */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RESULTS_DIR } from './paths.js';

export const SCENARIOS = ['sessions', 'messages', 'connect', 'reconnect-storm', 'slow-consumers', 'cluster'] as const;
export type Scenario = (typeof SCENARIOS)[number];
export type Workload = Exclude<Scenario, 'cluster'>;

export interface Options {
  readonly scenario: Scenario;
  /** What actually runs (the scenario, or for `cluster` its `--workload`). */
  readonly workload: Workload;
  readonly urls: readonly string[];
  readonly target: 'server' | 'relay';
  readonly dataDir: string | undefined;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly startNodes: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly drainS: number;
  readonly workers: number;
  readonly sessions: number;
  readonly threads: number;
  readonly caseload: number;
  readonly connections: number;
  readonly join: boolean;
  readonly rate: number;
  /** Characters per message; 0 = realistic mix. */
  readonly text: number;
  readonly typing: number;
  readonly connectRate: number;
  readonly maxInflight: number;
  readonly dropPercent: number;
  readonly stormAtS: number;
  readonly how: 'cut' | 'restart';
  readonly slowPercent: number;
  readonly stallS: number;
  readonly slowRate: number;
  readonly slowText: number;
  readonly outDir: string;
  readonly name: string | undefined;
  readonly cpuProf: boolean;
  readonly serverEnv: Readonly<Record<string, string>>;
  readonly eventsFile: string | undefined;
  readonly progress: boolean;
  readonly reports: boolean;
}

export const CAPS = {
  durationS: 600,
  workers: 16,
  sessions: 20_000,
  threads: 50_000,
  connections: 50_000,
  rate: 200_000,
  connectRate: 20_000,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run loadtest -- <scenario> [options]
       npm run loadtest -- verify <events.ndjson>

scenarios: ${SCENARIOS.join(', ')}

target (default: start our server as a child process, on 127.0.0.1, in a fresh temporary DATA_DIR):
  --url <ws://…/ws[,ws://…/ws…]>  nodes somebody else started (needs --data-dir for tokens and seeding)
  --data-dir <dir>                that server's DATA_DIR (signing key and key file)
  --database-url <postgres://…>   its PostgreSQL, to seed users and appointments in (default $DATABASE_URL)
  --target server|relay           what to start when no --url is given (default server)
  --server-env KEY=VALUE          extra environment for a server this tool starts (repeatable)
  --start-nodes <n>               cluster: start n nodes on PostgreSQL + Redis itself (--database-url, --redis-url)
  --redis-url <redis://…>         cluster: the Redis for --start-nodes (default $REDIS_URL or redis://127.0.0.1:6379)
  --cpu-prof                      profile the server it starts (node --cpu-prof) into the results folder

load:
  --duration <s>        how long traffic runs (default 20, at most ${CAPS.durationS}); measurement skips --warmup <s> (2)
  --drain <s>           after traffic, wait for every ack and delivery; give up after this long without progress (10)
  --workers <n>         generator processes (default 1, at most ${CAPS.workers})
  --sessions <n>        live appointments: sessions, reconnect-storm, slow-consumers (default 100, at most ${CAPS.sessions})
  --rate <msgs/s>       total messages per second over all senders (default 500)
  --text <n|realistic>  characters per message (default realistic: log-normal, median 60)
  --typing <0..1>       share of messages preceded by a typing indicator (default 0.5)
  --threads <n>         messages: inter-session threads (default 1000); --caseload <k> patients per therapist (8)
  --connections <n>     connect: connections to open (default 1000, at most ${CAPS.connections}); --no-join: only authenticate
  --connect-rate <n/s>  new connections per second (default 500)
  --max-inflight <n>    unacknowledged messages per sender and conversation before new ones are skipped (default 16)
  --drop <percent>      reconnect-storm: connections cut at once (default 50); --storm-at <s> (default duration/3)
  --how cut|restart     reconnect-storm: cut sockets in a proxy (default), or restart the server (drops all)
  --slow <percent>      slow-consumers: sessions whose patient stops reading (default 10); --stall <s> (up to 8)
  --slow-rate <msgs/s>  slow-consumers: rate in those sessions per sender (default 200); --slow-text <n> (3000)
  --workload <scenario> cluster: what to run across the nodes (default sessions)

output:
  --out <dir>           results folder (default loadtest/results)
  --name <label>        label for the result files
  --events <file>       also write the checker's input (member/ack/msg events, NDJSON) for \`verify\`
  --no-progress         no live progress line (it is shown only on a TTY anyway)
  --no-report           no JSON or HTML files

exit code: 0 all delivered exactly once in order; 1 a delivery check failed (lost, duplicated, out of order,
mismatched); 2 the run itself failed (could not connect, fatal closes, unacknowledged messages); 64 bad usage.`;

function int(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number from ${min} to ${max}`);
  return n;
}

export function parseOptions(argv: readonly string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        'data-dir': { type: 'string' },
        'database-url': { type: 'string' },
        'redis-url': { type: 'string' },
        target: { type: 'string' },
        'server-env': { type: 'string', multiple: true },
        'start-nodes': { type: 'string' },
        'cpu-prof': { type: 'boolean' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        drain: { type: 'string' },
        workers: { type: 'string' },
        sessions: { type: 'string' },
        rate: { type: 'string' },
        text: { type: 'string' },
        typing: { type: 'string' },
        threads: { type: 'string' },
        caseload: { type: 'string' },
        connections: { type: 'string' },
        'no-join': { type: 'boolean' },
        'connect-rate': { type: 'string' },
        'max-inflight': { type: 'string' },
        drop: { type: 'string' },
        'storm-at': { type: 'string' },
        how: { type: 'string' },
        slow: { type: 'string' },
        stall: { type: 'string' },
        'slow-rate': { type: 'string' },
        'slow-text': { type: 'string' },
        workload: { type: 'string' },
        out: { type: 'string' },
        name: { type: 'string' },
        events: { type: 'string' },
        'no-progress': { type: 'boolean' },
        'no-report': { type: 'boolean' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError('name one scenario');
  const scenario = positionals[0] as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new UsageError(`unknown scenario ${JSON.stringify(positionals[0])}`);
  const workload = (scenario === 'cluster' ? (v.workload ?? 'sessions') : scenario) as Workload;
  if (!SCENARIOS.includes(workload) || (workload as Scenario) === 'cluster') {
    throw new UsageError(`--workload must be one of ${SCENARIOS.filter((s) => s !== 'cluster').join(', ')}`);
  }
  const urls = (v.url ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const u of urls) {
    let parsedUrl: URL;
    try {
      parsedUrl = new URL(u);
    } catch {
      throw new UsageError(`--url ${u} is not a URL`);
    }
    if (parsedUrl.protocol !== 'ws:' && parsedUrl.protocol !== 'wss:')
      throw new UsageError(`--url ${u} must be ws:// or wss://`);
  }
  const target = (v.target ?? 'server') as Options['target'];
  if (target !== 'server' && target !== 'relay') throw new UsageError('--target must be server or relay');
  const startNodes = int('start-nodes', v['start-nodes'], 0, 0, 8);
  if (scenario === 'cluster' && urls.length === 0 && startNodes === 0) {
    throw new UsageError('cluster needs the nodes: --url ws://…,ws://… (with --data-dir), or --start-nodes <n>');
  }
  if (startNodes > 0 && urls.length > 0) throw new UsageError('give either --url or --start-nodes, not both');
  if (startNodes > 0 && scenario !== 'cluster') throw new UsageError('--start-nodes is for the cluster scenario');
  const durationS = int('duration', v.duration, 20, 1, CAPS.durationS);
  const text = v.text === undefined || v.text === 'realistic' ? 0 : int('text', v.text, 0, 1, 10_000);
  const how = (v.how ?? 'cut') as Options['how'];
  if (how !== 'cut' && how !== 'restart') throw new UsageError('--how must be cut or restart');
  if (how === 'restart' && (urls.length > 0 || startNodes > 0)) {
    throw new UsageError('--how restart needs the server this tool starts (no --url, no --start-nodes)');
  }
  const warmupS = int('warmup', v.warmup, Math.min(2, durationS / 4), 0, durationS / 2);
  // The stall starts 1 s after the warm-up and must end, with time to resume, before traffic stops.
  const stallS = int('stall', v.stall, Math.max(0.5, Math.min(8, durationS - warmupS - 4)), 0.1, durationS);
  if (workload === 'slow-consumers' && warmupS + 1 + stallS + 2 > durationS) {
    throw new UsageError(
      `--duration ${durationS} is too short for --stall ${stallS}: it needs ${Math.ceil(warmupS + stallS + 3)} s`,
    );
  }
  const serverEnv: Record<string, string> = {};
  for (const kv of v['server-env'] ?? []) {
    const i = kv.indexOf('=');
    if (i < 1) throw new UsageError(`--server-env ${kv}: expected KEY=VALUE`);
    serverEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const dataDir = v['data-dir'] ? path.resolve(v['data-dir']) : undefined;
  if (urls.length > 0 && target === 'server' && !dataDir) {
    throw new UsageError(
      '--url needs --data-dir: the server DATA_DIR whose signing key mints tokens (or --target relay)',
    );
  }
  return {
    scenario,
    workload,
    urls,
    target,
    dataDir,
    databaseUrl: v['database-url'] ?? process.env.DATABASE_URL,
    redisUrl: v['redis-url'] ?? process.env.REDIS_URL,
    startNodes,
    durationS,
    warmupS,
    drainS: int('drain', v.drain, 10, 1, 120),
    workers: int('workers', v.workers, 1, 1, CAPS.workers),
    sessions: int('sessions', v.sessions, 100, 1, CAPS.sessions),
    threads: int('threads', v.threads, 1000, 1, CAPS.threads),
    caseload: int('caseload', v.caseload, 8, 1, 100),
    connections: int('connections', v.connections, 1000, 1, CAPS.connections),
    join: !v['no-join'],
    rate: int('rate', v.rate, 500, 0, CAPS.rate),
    text,
    typing: int('typing', v.typing, 0.5, 0, 1),
    connectRate: int('connect-rate', v['connect-rate'], 500, 1, CAPS.connectRate),
    maxInflight: int('max-inflight', v['max-inflight'], workload === 'slow-consumers' ? 64 : 16, 1, 10_000),
    dropPercent: int('drop', v.drop, 50, 0, 100),
    stormAtS: int('storm-at', v['storm-at'], durationS / 3, 0, durationS),
    how,
    slowPercent: int('slow', v.slow, 10, 0, 100),
    stallS,
    slowRate: int('slow-rate', v['slow-rate'], 200, 0, 10_000),
    slowText: int('slow-text', v['slow-text'], 3000, 1, 3000),
    outDir: path.resolve(v.out ?? RESULTS_DIR),
    name: v.name,
    cpuProf: v['cpu-prof'] ?? false,
    serverEnv,
    eventsFile: v.events ? path.resolve(v.events) : undefined,
    progress: !v['no-progress'] && process.stderr.isTTY === true,
    reports: !v['no-report'],
  };
}

export const RESULTS_DIR_DEFAULT = RESULTS_DIR;

/** Cores on this machine, for the bottleneck warnings. */
export const CORES = os.availableParallelism();
