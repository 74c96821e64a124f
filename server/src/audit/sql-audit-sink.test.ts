import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgres } from '../../test/helpers/services.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SQLITE_FILE_NAME, SqliteStore } from '../store/sqlite-store.js';
import { StoreUnavailableError } from '../store/store.js';
import type { AuditRecord } from './audit-event.js';
import { auditEvent, describeAuditSinkContract, type AuditTamper } from './audit-sink.contract.js';
import { NoAuditDatabaseError, SqlAuditSink } from './sql-audit-sink.js';

const COLUMNS: [keyof AuditRecord, string][] = [
  ['seq', 'seq'],
  ['prevHash', 'prev_hash'],
  ['hash', 'hash'],
  ['time', 'occurred_at'],
  ['actorId', 'actor_id'],
  ['actorRole', 'actor_role'],
  ['action', 'action'],
  ['resourceType', 'resource_type'],
  ['resourceId', 'resource_id'],
  ['outcome', 'outcome'],
  ['reason', 'reason'],
  ['ip', 'ip'],
  ['device', 'device'],
];
const SELECT = `SELECT ${COLUMNS.map(([k, c]) => `${c} AS "${k}"`).join(', ')} FROM audit_events ORDER BY seq`;

/** Tampering through raw SQL: `run(sql, params)` with `?` placeholders, on a connection whose guards are off. */
function sqlTamper(
  run: (sql: string, params: unknown[]) => Promise<AuditRecord[]>,
  disableGuards: () => Promise<void>,
): AuditTamper {
  let guardsOff = false;
  const write = async (sql: string, params: unknown[]) => {
    if (!guardsOff) await disableGuards();
    guardsOff = true;
    await run(sql, params);
  };
  return {
    rows: () => run(SELECT, []),
    update: async (seq, values) => {
      const entries = COLUMNS.filter(([k]) => k in values);
      await write(`UPDATE audit_events SET ${entries.map(([, c]) => `${c} = ?`).join(', ')} WHERE seq = ?`, [
        ...entries.map(([k]) => values[k]),
        seq,
      ]);
    },
    delete: (seq) => write('DELETE FROM audit_events WHERE seq = ?', [seq]),
    insert: (r) =>
      write(
        `INSERT INTO audit_events (${COLUMNS.map(([, c]) => c).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
        COLUMNS.map(([k]) => r[k]),
      ),
    setHead: (head) => write('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [head.seq, head.hash]),
  };
}

async function tryBoth(run: (sql: string) => Promise<unknown>) {
  const attempt = (sql: string) =>
    run(sql).then(
      () => 'no error',
      (err: unknown) => err,
    );
  return {
    update: await attempt("UPDATE audit_events SET outcome = 'granted' WHERE seq = 1"),
    delete: await attempt('DELETE FROM audit_events WHERE seq = 2'),
  };
}

describeAuditSinkContract('SQLite file', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-audit-'));
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const sinks = [SqlAuditSink.sqlite({ dataDir })];
  const raw = new BetterSqlite3(path.join(dataDir, SQLITE_FILE_NAME));
  const run = async (sql: string, params: unknown[]) => {
    const stmt = raw.prepare(sql);
    return stmt.reader ? (stmt.all(...params) as AuditRecord[]) : (stmt.run(...params), []);
  };
  return {
    sink: sinks[0]!,
    another: async () => {
      sinks.push(SqlAuditSink.sqlite({ dataDir }));
      return sinks.at(-1)!;
    },
    tamper: {
      ...sqlTamper(run, async () => {
        raw.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
      }),
      tryOrdinaryWrites: () => tryBoth(async (sql) => raw.prepare(sql).run()),
    },
    cleanup: async () => {
      for (const s of sinks) await s.close();
      raw.close();
      await store.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

describe('SqlAuditSink on SQLite', () => {
  it('says the log is missing, rather than creating one, when verifying a directory with no database', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-audit-'));
    expect(() => SqlAuditSink.sqlite({ dataDir, readonly: true })).toThrow(NoAuditDatabaseError);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });

  it('says the log is missing when the database was never migrated to 0002_audit_log', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-audit-'));
    new BetterSqlite3(path.join(dataDir, SQLITE_FILE_NAME)).close();
    const sink = SqlAuditSink.sqlite({ dataDir, readonly: true });
    await expect(sink.verify()).rejects.toBeInstanceOf(NoAuditDatabaseError);
    await sink.close();
  });

  it('verifies read-only, while another connection appends', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-audit-'));
    const store = new SqliteStore({ dataDir });
    await store.migrate();
    const writer = SqlAuditSink.sqlite({ dataDir });
    await writer.append([auditEvent(1), auditEvent(2)]);
    const reader = SqlAuditSink.sqlite({ dataDir, readonly: true });
    expect(await reader.verify()).toMatchObject({ ok: true, count: 2 });
    await expect(reader.append([auditEvent(3)])).rejects.toThrow(/read-only|readonly/);
    await writer.append([auditEvent(3)]);
    expect(await reader.verify()).toMatchObject({ ok: true, count: 3 });
    await Promise.all([reader.close(), writer.close(), store.close()]);
  });
});

const pgService = await postgres();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

describe.skipIf(!pgService.available)('SqlAuditSink on PostgreSQL', () => {
  describeAuditSinkContract('PostgreSQL, two nodes with separate pools', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    drops.push(drop);
    const store = new PostgresStore({ connectionString: url, schema, poolSize: 1 });
    await store.migrate();
    await store.close();
    const open = () => SqlAuditSink.postgres({ connectionString: url, schema, poolSize: 3 });
    const sinks = [open()];
    const raw = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await raw.connect();
    const run = async (sql: string, params: unknown[]) => {
      let n = 0;
      const { rows } = await raw.query<AuditRecord>(
        sql.replace(/\?/g, () => `$${++n}`),
        params,
      );
      return rows.map((r) => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
    };
    return {
      sink: sinks[0]!,
      another: async () => {
        sinks.push(open());
        return sinks.at(-1)!;
      },
      tamper: {
        ...sqlTamper(run, async () => {
          await raw.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
        }),
        tryOrdinaryWrites: () => tryBoth((sql) => raw.query(sql)),
      },
      cleanup: async () => {
        for (const s of sinks) await s.close();
        await raw.end();
      },
    };
  });

  it('answers unavailable, quickly, when the server cannot be reached', async () => {
    const sink = SqlAuditSink.postgres({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectTimeoutMs: 500,
    });
    await expect(sink.append([auditEvent(1)])).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(sink.verify()).rejects.toBeInstanceOf(StoreUnavailableError);
    await sink.close();
  });

  it('says the log is missing when the schema was never migrated to 0002_audit_log', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    drops.push(drop);
    const sink = SqlAuditSink.postgres({ connectionString: url, schema, readonly: true });
    await expect(sink.verify()).rejects.toBeInstanceOf(NoAuditDatabaseError);
    await sink.close();
  });
});
