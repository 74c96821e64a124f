#!/usr/bin/env node
/**
 * `npm run audit:verify -- [--expect-head <seq>:<hash>] [--json]`: walks the audit log's hash chain in the database
 * the environment selects (DATABASE_URL, else the SQLite file in DATA_DIR) and says whether it is intact. Read-only.
 *
 * Exit codes: 0 intact; 1 tampered (the first tampered event is named); 64 usage; 69 database unreachable; 70 an
 * unexpected error; 78 configuration (bad environment, no database, or a database without the audit log).
 */
import { parseArgs } from 'node:util';
import { createAuditSink } from '../audit/create-audit-sink.js';
import type { AuditHead, AuditVerifyResult } from '../audit/audit-sink.js';
import { NoAuditDatabaseError, type SqlAuditSink } from '../audit/sql-audit-sink.js';
import { ConfigError, loadConfig } from '../config.js';
import { StoreUnavailableError } from '../store/store.js';

const USAGE = 'usage: npm run audit:verify -- [--expect-head <seq>:<64 hex digits>] [--json]';

const EXIT = { intact: 0, tampered: 1, usage: 64, unavailable: 69, software: 70, config: 78 } as const;

function stop(code: number, message: string, usage = false): void {
  process.stderr.write(`${message}\n${usage ? `${USAGE}\n` : ''}`);
  process.exitCode = code;
}

function parseHead(raw: string): AuditHead | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(raw);
  return m ? { seq: Number(m[1]), hash: m[2]! } : undefined;
}

function report(result: AuditVerifyResult, where: string, expectHead: AuditHead | undefined): string {
  if (!result.ok)
    return [
      `audit log TAMPERED (${where})`,
      `first tampered event: seq ${result.firstBadSeq}`,
      `problem: ${result.problem}`,
      `detail: ${result.detail}`,
      '',
    ].join('\n');
  return [
    `audit log intact (${where}): ${result.count} events${expectHead ? `, including the expected head ${expectHead.seq}` : ''}`,
    `head seq: ${result.headSeq}`,
    `head hash: ${result.headHash}`,
    `Record the head outside this database; next time, check that nothing before it changed and that the log was not`,
    `cut short with: npm run audit:verify -- --expect-head ${result.headSeq}:${result.headHash}`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  let values: { 'expect-head'?: string; json?: boolean };
  try {
    ({ values } = parseArgs({
      options: { 'expect-head': { type: 'string' }, json: { type: 'boolean', default: false } },
      strict: true,
    }));
  } catch (err) {
    return stop(EXIT.usage, (err as Error).message, true);
  }
  let expectHead: AuditHead | undefined;
  if (values['expect-head'] !== undefined) {
    expectHead = parseHead(values['expect-head']);
    if (!expectHead)
      return stop(EXIT.usage, '--expect-head must be <seq>:<hash>, the hash as 64 lower-case hex digits', true);
  }
  let sink: SqlAuditSink | undefined;
  try {
    const config = loadConfig();
    // Never print DATABASE_URL: it may hold a password.
    const where = config.databaseUrl ? 'PostgreSQL, DATABASE_URL' : `SQLite, DATA_DIR ${config.dataDir}`;
    sink = createAuditSink(config, { readonly: true });
    const result = await sink.verify({ expectHead });
    process.stdout.write(
      values.json ? `${JSON.stringify({ ...result, expectHead })}\n` : report(result, where, expectHead),
    );
    process.exitCode = result.ok ? EXIT.intact : EXIT.tampered;
  } catch (err) {
    if (err instanceof ConfigError) return stop(EXIT.config, `configuration error: ${err.message}`);
    if (err instanceof NoAuditDatabaseError) return stop(EXIT.config, err.message);
    if (err instanceof StoreUnavailableError) return stop(EXIT.unavailable, err.message);
    return stop(
      EXIT.software,
      `audit verification failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
  } finally {
    await sink?.close();
  }
}

await main();
