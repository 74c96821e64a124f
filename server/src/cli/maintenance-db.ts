/**
 * What the maintenance commands (`npm run retention`, `npm run keys:rotate`) share: the database the environment
 * selects, brought up to date, and an audit writer into its log. Never prints DATABASE_URL: it may hold a password.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AuditWriter } from '../audit/audit-writer.js';
import { createAuditSink } from '../audit/create-audit-sink.js';
import type { Config } from '../config.js';
import { createStore } from '../server.js';
import { SQLITE_FILE_NAME } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

/** DATA_DIR holds no database and DATABASE_URL is not set: nothing to work on (a configuration error). */
export class NoDatabaseError extends Error {
  override readonly name = 'NoDatabaseError';
}

export interface MaintenanceDb {
  readonly store: Store;
  readonly audit: AuditWriter;
  /** Which database, for the command's report: the backend and DATA_DIR, never the URL. */
  readonly where: string;
  /** Flushes the audit writer (reporting lost events to `onAuditLost`), then closes the sink and the store. */
  close(onAuditLost: (err: unknown) => void): Promise<void>;
}

/** Why there is nothing to open (no SQLite file in DATA_DIR and no DATABASE_URL), or `undefined`. */
export function missingDatabase(config: Config): string | undefined {
  if (config.databaseUrl || fs.existsSync(path.join(config.dataDir, SQLITE_FILE_NAME))) return undefined;
  return `no database in DATA_DIR ${config.dataDir} (${SQLITE_FILE_NAME}), and DATABASE_URL is not set`;
}

/** Opens and migrates the database; @throws NoDatabaseError when there is none (a maintenance command creates none). */
export async function openMaintenanceDb(config: Config): Promise<MaintenanceDb> {
  const where = config.databaseUrl ? 'PostgreSQL, DATABASE_URL' : `SQLite, DATA_DIR ${config.dataDir}`;
  const missing = missingDatabase(config);
  if (missing) throw new NoDatabaseError(missing);
  const store = createStore(config);
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  const sink = createAuditSink(config);
  const audit = new AuditWriter({ sink });
  return {
    store,
    audit,
    where,
    async close(onAuditLost) {
      await audit.close().catch(onAuditLost);
      await sink.close();
      await store.close();
    },
  };
}
