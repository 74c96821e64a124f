/**
 * The system under test: our server (or the bare relay) started as a child process, so that its CPU and memory can
 * be read apart from the generator's, or nodes somebody else started, known by URL. Either way its resources are
 * sampled once a second: from /proc for our own children, and from each node's /metrics
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `tc_connections`, …).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as NodeFlagsModule from '../../server/src/cli/node-flags.js';
import { loadtestEntry, SERVER_DIST } from './paths.js';

export interface NodeProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /** The last lines it printed. */
  readonly output: string[];
  /** Log lines at level warn (40) and error or worse (≥ 50). */
  readonly logCounts: { warn: number; error: number };
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly kind: 'server' | 'relay';
  readonly name: string;
  readonly env: Record<string, string>;
  /** Write a V8 CPU profile (`node --cpu-prof`) into this directory when the process exits. */
  readonly cpuProfDir?: string;
  /** Raise the open-files limit to this (up to the hard limit) in the child's shell before it starts. */
  readonly fdLimit?: number;
  readonly port?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The open-files limits of this process (soft, hard), read through the shell. */
export function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string) => {
    try {
      const v = execFileSync('/bin/sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
      return v === 'unlimited' ? Infinity : Number(v);
    } catch {
      return NaN;
    }
  };
  return { soft: read('-Sn'), hard: read('-Hn') };
}

/** Spawns `node args…`, through `sh -c 'ulimit -n N; exec …'` when a higher open-files limit is wanted. */
export function spawnNode(
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; fdLimit?: number; ipc?: boolean },
): ChildProcess {
  const stdio: ('ignore' | 'pipe' | 'ipc')[] = ['ignore', 'pipe', 'pipe'];
  if (opts.ipc) stdio.push('ipc');
  if (opts.fdLimit) {
    const limits = fileLimits();
    if (limits.soft < opts.fdLimit) {
      const want = Math.min(opts.fdLimit, limits.hard);
      return spawn('/bin/sh', ['-c', `ulimit -n ${want} && exec "$0" "$@"`, process.execPath, ...args], {
        env: opts.env,
        stdio,
      });
    }
  }
  return spawn(process.execPath, [...args], { env: opts.env, stdio });
}

async function waitHealthy(url: string, child: ChildProcess, output: string[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `the process exited (${child.exitCode ?? child.signalCode}) before it served:\n${output.join('\n')}`,
      );
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > until)
      throw new Error(`no answer from ${url}/healthz after ${timeoutMs} ms:\n${output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startNode(opts: StartOptions): Promise<NodeProcess> {
  const entry = opts.kind === 'server' ? path.join(SERVER_DIST, 'cli', 'start.js') : loadtestEntry('relay');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: build first (npm run build; npm run loadtest does)`);
  const port = opts.port ?? (await freePort());
  const args: string[] = [];
  if (opts.cpuProfDir) {
    fs.mkdirSync(opts.cpuProfDir, { recursive: true });
    args.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
  }
  // The server's own V8 flags, for the relay too: the comparison is of the code, not of the tuning.
  const flagsModule = path.join(SERVER_DIST, 'cli', 'node-flags.js');
  const { SERVER_NODE_FLAGS } = (await import(pathToFileURL(flagsModule).href)) as typeof NodeFlagsModule;
  args.push(...SERVER_NODE_FLAGS, entry);
  const child = spawnNode(args, {
    env: { ...process.env, ...opts.env, PORT: String(port), HOST: '127.0.0.1' },
    fdLimit: opts.fdLimit,
  });
  const output: string[] = [];
  const logCounts = { warn: 0, error: 0 };
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const m = /"level":(\d+)/.exec(line);
      const level = m ? Number(m[1]) : 0;
      if (level >= 50) logCounts.error++;
      else if (level >= 40) logCounts.warn++;
      if (level >= 40 || !m || output.length < 20) {
        output.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
        if (output.length > 200) output.splice(20, 1);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const httpUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(httpUrl, child, output, 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    name: opts.name,
    child,
    pid: child.pid!,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl,
    output,
    logCounts,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ------------------------------------------------------------------------------------------------ sampling

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU seconds (user + system) and resident bytes of a process, from /proc; undefined when it is gone. */
export function procUsage(pid: number): { cpuSeconds: number; rss: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command name: state is field 3; utime and stime are fields 14 and 15 (1-based), rss is 24 (pages).
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / ticksPerSecond(), rss: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
export function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Selected series from a Prometheus text page, summed over labels: name → value (and name{label} → value). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + value);
    if (m[2]) out.set(m[1]! + m[2], value);
  }
  return out;
}

export async function scrapeMetrics(httpUrl: string): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return parseMetrics(await res.text());
  } catch {
    return undefined;
  }
}

/** `ws://host:port/ws` → `http://host:port`. */
export function httpBase(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}
