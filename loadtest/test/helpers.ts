/** Runs the built load-test CLI (`npm test` builds first) and reads the JSON result it writes. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunResult } from '../src/run.js';

export const LOADTEST = fileURLToPath(new URL('../', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly outDir: string;
  /** The JSON results written, oldest first. */
  results(): RunResult[];
  html(): string[];
}

export function tempDir(prefix = 'tc-lt-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function cli(entry: 'cli' | 'bench', args: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  const file = path.join(LOADTEST, 'dist', `${entry}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (npm test does)`);
  const outDir = tempDir();
  const withOut = args[0] === 'verify' ? args : [...args, '--out', outDir];
  const child = spawn(process.execPath, [file, ...withOut], {
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      const list = (ext: string) =>
        fs.existsSync(outDir)
          ? fs
              .readdirSync(outDir)
              .filter((f) => f.endsWith(ext) && !f.endsWith('-bench.json'))
              .sort()
              .map((f) => path.join(outDir, f))
          : [];
      resolve({
        code,
        stdout,
        stderr,
        outDir,
        results: () => list('.json').map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as RunResult),
        html: () => list('.html').map((f) => fs.readFileSync(f, 'utf8')),
      });
    });
  });
}

/** The checks every clean run must pass. */
export function expectClean(
  r: RunResult,
  expect: (v: unknown, msg?: string) => { toBe(x: unknown): void; toBeGreaterThan(x: number): void },
): void {
  const detail = JSON.stringify({ verdict: r.verdict, fatal: r.fatal, check: r.check, warnings: r.warnings });
  expect(r.exitCode, detail).toBe(0);
  expect(r.check.lost, detail).toBe(0);
  expect(r.check.duplicated, detail).toBe(0);
  expect(r.check.outOfOrder, detail).toBe(0);
  expect(r.check.mismatched, detail).toBe(0);
  expect(r.check.ackConflicts, detail).toBe(0);
  expect(r.check.unackedAtEnd, detail).toBe(0);
}
