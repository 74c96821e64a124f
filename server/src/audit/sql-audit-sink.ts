/**
 * The audit sink on the system of record: table `audit_events` (migration `0002_audit_log`) in the same SQLite file or
 * PostgreSQL database as the store, through a connection of its own.
 *
 * An append is one transaction: lock the one-row `audit_head`, chain the batch to it, insert the events, move the
 * head. The sink only ever inserts events (a trigger refuses updates and deletes). On PostgreSQL the lock is
 * `SELECT … FOR UPDATE` on `audit_head`, so batches from several nodes take turns and the chain stays linear; on
 * SQLite, `BEGIN IMMEDIATE` takes the database's one write lock, and the whole transaction runs synchronously, as the
 * store's group commit does.
 *
 * The tables must exist: the store's `migrate()` creates them (the migrations are shared). Statements are prepared on
 * first use, so a sink may be built before the store has migrated.
 */
import type { AuditEventsTable } from '../store/schema.js';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Dialect } from '../store/migrations.js';
import { isTransientPgError } from '../store/postgres-store.js';
import { SQLITE_FILE_NAME } from '../store/sqlite-store.js';
import { StoreUnavailableError } from '../store/store.js';
import { chainAuditContents, GENESIS_HASH } from './audit-chain.js';
import { fromAuditRecord, toAuditContent, type AuditContent, type AuditRecord } from './audit-event.js';
import type {
  AuditEvent,
  AuditEventInput,
  AuditHead,
  AuditResource,
  AuditSink,
  AuditVerifyOptions,
  AuditVerifyResult,
} from './audit-sink.js';
import { verifyAuditChain, type AuditChainSource } from './audit-verify.js';

const COLUMNS =
  'seq, prev_hash, hash, occurred_at, actor_id, actor_role, action, resource_type, resource_id, outcome, reason, ip, device';

/** A row of `audit_events`, as the typed schema describes it. */
type AuditRow = AuditEventsTable;

const toRecord = (r: AuditRow): AuditRecord => ({
  seq: r.seq,
  prevHash: r.prev_hash,
  hash: r.hash,
  time: r.occurred_at,
  actorId: r.actor_id,
  actorRole: r.actor_role,
  action: r.action,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  outcome: r.outcome,
  reason: r.reason,
  ip: r.ip,
  device: r.device,
});

const toValues = (r: AuditRecord) =>
  [
    r.seq,
    r.prevHash,
    r.hash,
    r.time,
    r.actorId,
    r.actorRole,
    r.action,
    r.resourceType,
    r.resourceId,
    r.outcome,
    r.reason,
    r.ip,
    r.device,
  ] as const;

/** The database named by the config has no audit log: no SQLite file, or no `audit_events` table (not migrated). */
export class NoAuditDatabaseError extends Error {
  override readonly name = 'NoAuditDatabaseError';
}

const NOT_MIGRATED =
  'the database has no audit log (migration 0002_audit_log has not run): start the server once, which migrates';

/** The database side of the sink: one implementation per dialect. */
interface AuditBackend extends AuditChainSource {
  /** In one transaction holding the chain's write lock: chain `contents` to the head, insert them, move the head. */
  appendLocked(contents: readonly AuditContent[]): Promise<AuditRecord[]>;
  /** Events whose resource id is in `byType[type]` for one of the types, `seq >= fromSeq`, oldest first. */
  readByResources(byType: ReadonlyMap<string, string[]>, fromSeq: number, limit: number): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

/** The resources grouped by type: one indexed branch of the query per type. */
function groupByType(resources: readonly AuditResource[]): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const r of resources) {
    const ids = byType.get(r.type) ?? [];
    if (!ids.includes(r.id)) ids.push(r.id);
    byType.set(r.type, ids);
  }
  return byType;
}

/** Where the audit head row is missing (it never should be), verification treats the log as empty-headed. */
const EMPTY_HEAD: AuditHead = { seq: 0, hash: GENESIS_HASH };

export interface SqliteAuditSinkOptions {
  /** The store's data directory: the sink opens `therapy-chat.sqlite` in it. */
  readonly dataDir: string;
  /** How long an append waits for another connection's write lock. Default 2,000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * Open read-only, and fail if the database file does not exist: for verification, which must change nothing.
   * `append` then fails. Default false.
   */
  readonly readonly?: boolean;
}

export interface PostgresAuditSinkOptions {
  readonly connectionString: string;
  /** Schema of the store's tables. Default `public`. */
  readonly schema?: string;
  /** Connections in the sink's own pool (appends take turns anyway). Default 2. */
  readonly poolSize?: number;
  /** How long to wait for a connection before failing as unavailable. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Longest a statement may run, waiting for the head lock included. Default 10,000 ms. */
  readonly statementTimeoutMs?: number;
  /** Every transaction read-only (`default_transaction_read_only`): for verification. Default false. */
  readonly readonly?: boolean;
}

export class SqlAuditSink implements AuditSink {
  private constructor(
    private readonly backend: AuditBackend,
    readonly dialect: Dialect,
  ) {}

  static sqlite(options: SqliteAuditSinkOptions): SqlAuditSink {
    return new SqlAuditSink(new SqliteAuditBackend(options), 'sqlite');
  }

  static postgres(options: PostgresAuditSinkOptions): SqlAuditSink {
    return new SqlAuditSink(new PostgresAuditBackend(options), 'postgres');
  }

  async append(events: readonly AuditEventInput[]): Promise<AuditEvent[]> {
    const contents = events.map(toAuditContent);
    if (contents.length === 0) return [];
    return (await this.backend.appendLocked(contents)).map(fromAuditRecord);
  }

  async read(fromSeq: number, limit: number): Promise<AuditEvent[]> {
    return (await this.backend.readRecords(fromSeq, limit)).map(fromAuditRecord);
  }

  async readByResources(resources: readonly AuditResource[], fromSeq: number, limit: number): Promise<AuditEvent[]> {
    if (resources.length === 0 || limit <= 0) return [];
    return (await this.backend.readByResources(groupByType(resources), fromSeq, limit)).map(fromAuditRecord);
  }

  head(): Promise<AuditHead> {
    return this.backend.recordedHead();
  }

  verify(options?: AuditVerifyOptions): Promise<AuditVerifyResult> {
    return verifyAuditChain(this.backend, options);
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

// --- SQLite ----------------------------------------------------------------------------------------------------------

const SQLITE_TRANSIENT = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN)/;

function sqliteGuard<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const message = (err as Error | null)?.message ?? '';
    if (typeof code === 'string' && SQLITE_TRANSIENT.test(code))
      return Promise.reject(new StoreUnavailableError(`audit log unavailable: ${message}`, { cause: err }));
    if (/no such table: audit_/.test(message))
      return Promise.reject(new NoAuditDatabaseError(NOT_MIGRATED, { cause: err }));
    return Promise.reject(err as Error);
  }
}

function prepareSqlite(db: BetterSqlite3.Database) {
  return {
    head: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1'),
    read: db.prepare<[number, number], AuditRow>(
      `SELECT ${COLUMNS} FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?`,
    ),
    insert: db.readonly
      ? undefined
      : db.prepare(`INSERT INTO audit_events (${COLUMNS}) VALUES (${COLUMNS.replace(/\w+/g, '?')})`),
    setHead: db.readonly
      ? undefined
      : db.prepare<[number, string]>('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1'),
  };
}

class SqliteAuditBackend implements AuditBackend {
  private readonly db: BetterSqlite3.Database;
  private stmt: ReturnType<typeof prepareSqlite> | undefined;
  private readonly appendTx: BetterSqlite3.Transaction<(contents: readonly AuditContent[]) => AuditRecord[]>;

  constructor(options: SqliteAuditSinkOptions) {
    const file = path.join(options.dataDir, SQLITE_FILE_NAME);
    if (options.readonly && !fs.existsSync(file)) throw new NoAuditDatabaseError(`no database at ${file}`);
    if (!options.readonly) fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    this.db = new BetterSqlite3(file, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
    });
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
    }
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 2000))}`);
    this.appendTx = this.db.transaction((contents: readonly AuditContent[]) => {
      const q = this.q;
      if (!q.insert || !q.setHead) throw new Error('the audit sink was opened read-only');
      const head = q.head.get();
      if (!head) throw new Error('audit_head has no row: the audit log cannot be appended to');
      const records = chainAuditContents(head, contents);
      for (const r of records) q.insert.run(...toValues(r));
      const last = records.at(-1)!;
      q.setHead.run(last.seq, last.hash);
      return records;
    });
  }

  private get q() {
    this.stmt ??= prepareSqlite(this.db);
    return this.stmt;
  }

  appendLocked(contents: readonly AuditContent[]): Promise<AuditRecord[]> {
    return sqliteGuard(() => this.appendTx.immediate(contents));
  }

  readRecords(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    return sqliteGuard(() => this.q.read.all(fromSeq, limit).map(toRecord));
  }

  readByResources(byType: ReadonlyMap<string, string[]>, fromSeq: number, limit: number): Promise<AuditRecord[]> {
    // One branch per type, each on the (resource_type, resource_id, seq) index; the ids travel as one JSON array.
    const branches = [...byType.keys()].map(
      () =>
        `SELECT ${COLUMNS} FROM audit_events WHERE resource_type = ? AND resource_id IN (SELECT value FROM json_each(?)) AND seq >= ?`,
    );
    const params = [...byType].flatMap(([type, ids]) => [type, JSON.stringify(ids), fromSeq]);
    return sqliteGuard(() =>
      this.db
        .prepare<unknown[], AuditRow>(`SELECT * FROM (${branches.join(' UNION ALL ')}) ORDER BY seq LIMIT ?`)
        .all(...params, limit)
        .map(toRecord),
    );
  }

  recordedHead(): Promise<AuditHead> {
    return sqliteGuard(() => {
      const row = this.q.head.get();
      return row ? { seq: row.seq, hash: row.hash } : EMPTY_HEAD;
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

// --- PostgreSQL ------------------------------------------------------------------------------------------------------

// bigint (int8) columns hold seqs and times in ms: well inside 2^53, so read them as numbers (as the store does).
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};

class PostgresAuditBackend implements AuditBackend {
  private readonly pool: pg.Pool;
  private ended = false;

  constructor(options: PostgresAuditSinkOptions) {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name ${schema}`);
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      options: `-c search_path=${schema}${options.readonly ? ' -c default_transaction_read_only=on' : ''}`,
      max: options.poolSize ?? 2,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 2000,
      statement_timeout: options.statementTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      types,
    });
    // An idle client losing its connection (server restart) emits here; the pool replaces it.
    this.pool.on('error', () => {});
    // A connection lost while checked out also emits 'error'; the query in flight rejects with it, which is where it
    // is handled. Without a listener the process would crash.
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isTransientPgError(err))
        throw new StoreUnavailableError(`audit log unavailable: ${(err as Error).message}`, { cause: err });
      // undefined_table: the database was never migrated to 0002_audit_log.
      if ((err as { code?: unknown } | null)?.code === '42P01')
        throw new NoAuditDatabaseError(NOT_MIGRATED, { cause: err });
      throw err;
    }
  }

  appendLocked(contents: readonly AuditContent[]): Promise<AuditRecord[]> {
    return this.guard(async () => {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        // The one lock every node's appends queue on: the head cannot move under us, so the batch extends it.
        const { rows } = await client.query<AuditHead>('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE');
        const head = rows[0];
        if (!head) throw new Error('audit_head has no row: the audit log cannot be appended to');
        const records = chainAuditContents(head, contents);
        const values = records.map(toValues);
        await client.query(
          `INSERT INTO audit_events (${COLUMNS})
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
          Array.from({ length: 13 }, (_, i) => values.map((v) => v[i])),
        );
        const last = records.at(-1)!;
        await client.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [last.seq, last.hash]);
        await client.query('COMMIT');
        return records;
      } catch (err) {
        broken = isTransientPgError(err);
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        throw err;
      } finally {
        // A connection that failed mid-transaction is not given back to the pool.
        client.release(broken);
      }
    });
  }

  readRecords(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.guard(async () => {
      const { rows } = await this.pool.query<AuditRow>(
        `SELECT ${COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2`,
        [fromSeq, limit],
      );
      return rows.map(toRecord);
    });
  }

  readByResources(byType: ReadonlyMap<string, string[]>, fromSeq: number, limit: number): Promise<AuditRecord[]> {
    const params: unknown[] = [fromSeq];
    const branches = [...byType].map(([type, ids]) => {
      params.push(type, ids);
      return `SELECT ${COLUMNS} FROM audit_events
              WHERE resource_type = $${params.length - 1} AND resource_id = ANY($${params.length}::text[]) AND seq >= $1`;
    });
    params.push(limit);
    return this.guard(async () => {
      const { rows } = await this.pool.query<AuditRow>(
        `SELECT * FROM (${branches.join(' UNION ALL ')}) AS e ORDER BY seq LIMIT $${params.length}`,
        params,
      );
      return rows.map(toRecord);
    });
  }

  recordedHead(): Promise<AuditHead> {
    return this.guard(async () => {
      const { rows } = await this.pool.query<AuditHead>('SELECT seq, hash FROM audit_head WHERE id = 1');
      return rows[0] ?? EMPTY_HEAD;
    });
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end();
  }
}
