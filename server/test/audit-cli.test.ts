/**
 * `npm run audit:verify` as operators run it: the built CLI (`npm test` builds first) as a child process, against a
 * SQLite DATA_DIR written by the real sink, then tampered with directly in the database file.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { auditEvent } from '../src/audit/audit-sink.contract.js';
import { SqlAuditSink } from '../src/audit/sql-audit-sink.js';
import { SQLITE_FILE_NAME, SqliteStore } from '../src/store/sqlite-store.js';
import { REPO_ROOT, tempDataDir } from './helpers/harness.js';

const CLI = path.join(REPO_ROOT, 'server/dist/cli/audit-verify.js');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function verify(dataDir: string, args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'info', ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A data directory with a migrated database and `n` audit events. */
async function logOf(n: number): Promise<string> {
  const dataDir = tempDataDir();
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const sink = SqlAuditSink.sqlite({ dataDir });
  await sink.append(Array.from({ length: n }, (_, i) => auditEvent(i + 1)));
  await sink.close();
  await store.close();
  return dataDir;
}

/** Runs SQL on the database file directly, with the append-only triggers dropped: what an attacker would do. */
function tamper(dataDir: string, ...statements: string[]): void {
  const db = new BetterSqlite3(path.join(dataDir, SQLITE_FILE_NAME));
  db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
  for (const s of statements) db.exec(s);
  db.close();
}

const headOf = (stdout: string) => /--expect-head (\d+:[0-9a-f]{64})/.exec(stdout)?.[1];

describe.concurrent('npm run audit:verify', () => {
  it('exits 0 on an intact log and prints the head seq and hash to record', async () => {
    const dataDir = await logOf(5);
    const run = await verify(dataDir);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('audit log intact');
    expect(run.stdout).toContain('5 events');
    expect(run.stdout).toMatch(/head seq: 5\nhead hash: [0-9a-f]{64}\n/);
    const head = headOf(run.stdout);
    expect(head).toMatch(/^5:/);
    expect((await verify(dataDir, ['--expect-head', head!])).code).toBe(0);
  });

  it('exits 1 on an edited event and names it', async () => {
    const dataDir = await logOf(5);
    tamper(dataDir, "UPDATE audit_events SET outcome = 'refused' WHERE seq = 3");
    const run = await verify(dataDir);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('audit log TAMPERED');
    expect(run.stdout).toContain('first tampered event: seq 3');
    expect(run.stdout).toContain('problem: edited');
  });

  it('exits 1 on a deleted event', async () => {
    const dataDir = await logOf(5);
    tamper(dataDir, 'DELETE FROM audit_events WHERE seq = 2');
    const run = await verify(dataDir, ['--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, firstBadSeq: 2, problem: 'deleted' });
  });

  it('finds a tail cut off with its head record moved back, only with --expect-head', async () => {
    const dataDir = await logOf(6);
    const head = headOf((await verify(dataDir)).stdout)!;
    tamper(
      dataDir,
      'DELETE FROM audit_events WHERE seq > 4',
      'UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)',
    );
    expect((await verify(dataDir)).code).toBe(0);
    const run = await verify(dataDir, ['--expect-head', head]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('first tampered event: seq 5');
    expect(run.stdout).toContain('problem: truncated');
  });

  it('exits 64 on bad usage', async () => {
    const dataDir = await logOf(1);
    for (const args of [['--expect-head', `5:${'A'.repeat(64)}`], ['--nope']]) {
      const run = await verify(dataDir, args);
      expect(run.code, args.join(' ')).toBe(64);
      expect(run.stderr).toContain('usage: npm run audit:verify');
    }
  });

  it('exits 78 on a config error, on a directory with no database (creating none), and on an unmigrated one', async () => {
    const dataDir = await logOf(1);
    expect((await verify(dataDir, [], { LOG_LEVEL: 'loud' })).code).toBe(78);
    const empty = tempDataDir();
    const run = await verify(empty);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('no database');
    expect(fs.readdirSync(empty)).toEqual([]);
    new BetterSqlite3(path.join(empty, SQLITE_FILE_NAME)).close();
    const unmigrated = await verify(empty);
    expect(unmigrated.code).toBe(78);
    expect(unmigrated.stderr).toContain('0002_audit_log');
  });

  it('exits 69 when DATABASE_URL names a server that cannot be reached', async () => {
    const run = await verify(tempDataDir(), [], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(run.code).toBe(69);
    expect(run.stderr).toContain('unavailable');
  });
});
