#!/usr/bin/env node
/**
 * `npm run keys:rotate -- [--batch-size <n>] [--settle-ms <ms>]`: rotates the key-encryption key of the key file in
 * DATA_DIR (docs/operations.md, "Rotating the key-encryption key"): a new KEK becomes current, every wrapped data key
 * in the database the environment selects is re-wrapped under it in batches, and the old KEK is removed from the file
 * once no row uses it. Servers using the same key file keep running: they unwrap with either KEK meanwhile and pick up
 * the new file by themselves.
 *
 * Exit codes: 0 rotated; 1 incomplete (some rows could not be re-wrapped; their KEK is kept, and running it again
 * retries); 64 usage; 69 database unreachable; 70 an unexpected error; 75 another rotation holds the key file's lock;
 * 78 configuration.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { FileKeyProvider, KEY_FILE_NAME, KeyFileLockedError } from '../crypto/file-key-provider.js';
import { rotateKek } from '../crypto/kek-rotation.js';
import { StoreUnavailableError } from '../store/store.js';
import { type MaintenanceDb, missingDatabase, NoDatabaseError, openMaintenanceDb } from './maintenance-db.js';

const USAGE = 'usage: npm run keys:rotate -- [--batch-size <1-10000>] [--settle-ms <0-600000>]';
const EXIT = { ok: 0, incomplete: 1, usage: 64, unavailable: 69, software: 70, locked: 75, config: 78 } as const;

function stop(code: number, message: string, usage = false): void {
  process.stderr.write(`${message}\n${usage ? `${USAGE}\n` : ''}`);
  process.exitCode = code;
}

function intOption(raw: string | undefined, def: number, min: number, max: number): number | undefined {
  if (raw === undefined) return def;
  const n = Number(raw);
  return /^\d+$/.test(raw) && n >= min && n <= max ? n : undefined;
}

async function main(): Promise<void> {
  let values: { 'batch-size'?: string; 'settle-ms'?: string };
  try {
    ({ values } = parseArgs({
      options: { 'batch-size': { type: 'string' }, 'settle-ms': { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    return stop(EXIT.usage, (err as Error).message, true);
  }
  const batchSize = intOption(values['batch-size'], 200, 1, 10_000);
  const settleMs = intOption(values['settle-ms'], 1000, 0, 600_000);
  if (batchSize === undefined) return stop(EXIT.usage, '--batch-size must be an integer from 1 to 10000', true);
  if (settleMs === undefined) return stop(EXIT.usage, '--settle-ms must be an integer from 0 to 600000', true);
  let db: MaintenanceDb | undefined;
  try {
    const config = loadConfig();
    const missing = missingDatabase(config);
    if (missing) return stop(EXIT.config, missing);
    if (!fs.existsSync(path.join(config.dataDir, KEY_FILE_NAME))) {
      return stop(EXIT.config, `no key file in DATA_DIR ${config.dataDir} (${KEY_FILE_NAME}): nothing to rotate`);
    }
    db = await openMaintenanceDb(config);
    const { where } = db;
    const provider = FileKeyProvider.openOrCreate(config.dataDir);
    const r = await rotateKek(
      { db: db.store.kysely, provider, audit: db.audit, now: Date.now },
      { batchSize, settleMs },
    );
    process.stdout.write(
      [
        `key-encryption key rotated (${where}; key file in DATA_DIR ${config.dataDir})`,
        `new current KEK: ${r.newKekId}`,
        `case data keys re-wrapped: ${r.rewrapped.data_keys}`,
        `identity keys re-wrapped: ${r.rewrapped.user_keys}`,
        `retired KEKs: ${r.retired.length > 0 ? r.retired.join(', ') : 'none'}`,
        ...(r.kept.length > 0
          ? [
              `INCOMPLETE: still in use, kept: ${r.kept.join(', ')} (${r.failed} rows could not be unwrapped); run again`,
            ]
          : []),
        `Back up the new key file (kek.json) now, apart from the database.`,
        '',
      ].join('\n'),
    );
    if (r.kept.length > 0) process.exitCode = EXIT.incomplete;
  } catch (err) {
    if (err instanceof ConfigError) return stop(EXIT.config, `configuration error: ${err.message}`);
    if (err instanceof NoDatabaseError) return stop(EXIT.config, err.message);
    if (err instanceof KeyFileLockedError) return stop(EXIT.locked, err.message);
    if (err instanceof StoreUnavailableError) return stop(EXIT.unavailable, err.message);
    return stop(EXIT.software, `rotation failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await db?.close((err) => stop(EXIT.software, `audit events lost: ${String(err)}`));
  }
}

await main();
