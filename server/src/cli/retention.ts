#!/usr/bin/env node
/**
 * `npm run retention -- [--dry-run] [--batch-size <n>]`: destroys what retention says is due (docs/operations.md,
 * "Retention") in the database the environment selects (DATABASE_URL, else the SQLite file in DATA_DIR): cases 20
 * years after discharge are crypto-shredded, accounts that never became a case are removed after 6 years. It runs batch
 * after batch until nothing is due, and prints counts only, never who. `--dry-run` counts what is due and changes
 * nothing. Safe to run while servers run, and beside their own retention timers.
 *
 * Exit codes: 0 done; 64 usage; 69 database unreachable; 70 an unexpected error; 78 configuration.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { DEFAULT_RETENTION_BATCH, runRetention } from '../retention/retention.js';
import { StoreUnavailableError } from '../store/store.js';
import { type MaintenanceDb, NoDatabaseError, openMaintenanceDb } from './maintenance-db.js';

const USAGE = 'usage: npm run retention -- [--dry-run] [--batch-size <1-10000>]';
const EXIT = { ok: 0, usage: 64, unavailable: 69, software: 70, config: 78 } as const;

function stop(code: number, message: string, usage = false): void {
  process.stderr.write(`${message}\n${usage ? `${USAGE}\n` : ''}`);
  process.exitCode = code;
}

async function main(): Promise<void> {
  let values: { 'dry-run'?: boolean; 'batch-size'?: string };
  try {
    ({ values } = parseArgs({
      options: { 'dry-run': { type: 'boolean', default: false }, 'batch-size': { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    return stop(EXIT.usage, (err as Error).message, true);
  }
  const batchSize = values['batch-size'] === undefined ? DEFAULT_RETENTION_BATCH : Number(values['batch-size']);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    return stop(EXIT.usage, '--batch-size must be an integer from 1 to 10000', true);
  }
  let db: MaintenanceDb | undefined;
  try {
    db = await openMaintenanceDb(loadConfig());
    const { where } = db;
    const deps = { db: db.store.kysely, audit: db.audit, now: Date.now };
    if (values['dry-run']) {
      const due = await runRetention(deps, { dryRun: true });
      process.stdout.write(
        `retention dry run (${where}): nothing changed\n` +
          `cases due to be shredded (discharged more than 20 years ago): ${due.cases}\n` +
          `accounts due to be removed (no case, created more than 6 years ago): ${due.accounts}\n`,
      );
      return;
    }
    let cases = 0;
    let accounts = 0;
    for (;;) {
      const r = await runRetention(deps, { batchSize });
      cases += r.cases;
      accounts += r.accounts;
      if (!r.more) break;
    }
    process.stdout.write(
      `retention (${where}):\n` +
        `cases shredded (discharged more than 20 years ago): ${cases}\n` +
        `accounts removed (no case, created more than 6 years ago): ${accounts}\n`,
    );
  } catch (err) {
    if (err instanceof ConfigError) return stop(EXIT.config, `configuration error: ${err.message}`);
    if (err instanceof NoDatabaseError) return stop(EXIT.config, err.message);
    if (err instanceof StoreUnavailableError) return stop(EXIT.unavailable, err.message);
    return stop(EXIT.software, `retention failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await db?.close((err) => stop(EXIT.software, `audit events lost: ${String(err)}`));
  }
}

await main();
