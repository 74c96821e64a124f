/**
 * Reads a V8 CPU profile (`node --cpu-prof`, as `--cpu-prof` makes the server write) and says where the time went:
 * self time per function, and per package or source file, as shares of the sampled time.
 */
import fs from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** Share of time with the process idle (waiting in the event loop). */
  readonly idlePct: number;
  readonly gcPct: number;
  readonly functions: readonly { readonly name: string; readonly where: string; readonly pct: number }[];
  /** Inclusive time (the function and everything it called), of the busy time. */
  readonly inclusive: readonly { readonly name: string; readonly where: string; readonly pct: number }[];
  readonly modules: readonly { readonly module: string; readonly pct: number }[];
}

/** Which package or source file a script URL belongs to. */
function moduleOf(url: string): string {
  if (!url) return '(native / V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const m = /\/(server|protocol|client-sdk|loadtest)\/dist\/(.*)$/.exec(url);
  if (m) return `${m[1]}/${m[2]}`;
  return url.split('/').slice(-2).join('/');
}

/**
 * `range`, when given, keeps only the samples taken between those two instants of the monotonic clock, in µs (V8's
 * profile timestamps and `process.hrtime` read the same clock on Linux): the load tool passes its measurement window,
 * so that start-up and connecting do not blur what the steady state costs.
 */
export function summarizeProfile(file: string, top = 25, range?: { fromUs: number; toUs: number }): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (range && (t < range.fromUs || t > range.toUs)) continue;
    total += dt;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => {
    const { functionName, url, lineNumber } = n.callFrame;
    return { name: functionName || '(anonymous)', where: url ? `${moduleOf(url)}:${lineNumber + 1}` : '' };
  };
  // Inclusive: each sample counts once for every distinct function on its stack.
  const incl = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const l = label(n);
      const key = `${l.name} ${l.where}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = incl.get(key) ?? { ...l, us: 0 };
      e.us += us;
      incl.set(key, e);
    }
  }
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const mods = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    if (name === '(garbage collector)') gc += us;
    const where = url ? `${moduleOf(url)}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const e = fns.get(key) ?? { name, where, us: 0 };
    e.us += us;
    fns.set(key, e);
    if (name !== '(idle)') mods.set(moduleOf(url), (mods.get(moduleOf(url)) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    totalMs: Math.round(total / 1000),
    idlePct: Math.round((idle / Math.max(1, total)) * 1000) / 10,
    gcPct: pct(gc),
    functions: [...fns.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, pct: pct(f.us) })),
    inclusive: [...incl.values()]
      .filter((f) => !['(root)', '(idle)', '(program)', '(garbage collector)'].includes(f.name) && f.where !== '')
      .sort((a, b) => b.us - a.us)
      .slice(0, top * 2)
      .map((f) => ({ name: f.name, where: f.where, pct: pct(f.us) })),
    modules: [...mods.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, pct: pct(us) })),
  };
}

export function profileText(file: string, s: ProfileSummary): string {
  const lines = [
    `${file}: ${s.totalMs} ms sampled, ${s.idlePct}% idle; shares below are of the busy time (GC ${s.gcPct}%)`,
    '',
    'self time by function:',
    ...s.functions.map((f) => `  ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`),
    '',
    'inclusive time (the function and what it called):',
    ...s.inclusive.map((f) => `  ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`),
    '',
    'self time by package or file:',
    ...s.modules.map((m) => `  ${m.pct.toFixed(1).padStart(5)}%  ${m.module}`),
  ];
  return lines.join('\n');
}

/** The summaries of a run's server profiles, cut to its measurement window ('' when it has none). */
export function profilesText(result: {
  readonly server: { readonly profiles: readonly string[]; readonly windowMonoUs: { fromUs: number; toUs: number } };
}): string {
  let out = '';
  for (const p of result.server.profiles) {
    try {
      const s = summarizeProfile(p, 15, result.server.windowMonoUs);
      out += `\nCPU profile of the server over the measurement window:\n${profileText(p, s)}\n`;
    } catch {
      // a profile cut short
    }
  }
  return out;
}
