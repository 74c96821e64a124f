/**
 * The audit sink the config selects, beside the store it selects (`createStore` in server.ts): PostgreSQL when
 * DATABASE_URL is set, else the SQLite file in DATA_DIR. The sink opens its own connection to that same database; the
 * store's `migrate()` creates its tables.
 */
import type { Config } from '../config.js';
import { SqlAuditSink } from './sql-audit-sink.js';

export interface CreateAuditSinkOptions {
  /**
   * Open without writing anything, for verification: SQLite read-only (and the file must exist), PostgreSQL with
   * read-only transactions. Default false.
   */
  readonly readonly?: boolean;
}

export function createAuditSink(config: Config, options: CreateAuditSinkOptions = {}): SqlAuditSink {
  if (config.databaseUrl)
    return SqlAuditSink.postgres({ connectionString: config.databaseUrl, readonly: options.readonly });
  return SqlAuditSink.sqlite({
    dataDir: config.dataDir,
    busyTimeoutMs: config.sqliteBusyTimeoutMs,
    readonly: options.readonly,
  });
}
