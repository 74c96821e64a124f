/**
 * The production store: PostgreSQL through `pg`, with the same migrations and cold queries (Kysely) as SQLite.
 *
 * A batch append is one transaction that first locks the rows of the conversations it writes to (in id order, so
 * two nodes never deadlock), then reads their `last_seq` and any earlier messages with the same client ids, and
 * inserts the new rows with the next seqs. The row lock makes concurrent appends from several nodes to one
 * conversation take turns, so seqs stay gap-free and identical for every reader. The commit is durable
 * (`synchronous_commit` on) before the batch's acks go out.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { planAppend } from './append-plan.js';
import * as domainQueries from './domain-queries.js';
import { migrateToLatest } from './migrations.js';
import {
  CONVERSATION_SELECT,
  MESSAGE_COLUMNS,
  type ConversationRow,
  type MessageRow,
  toConversation,
  toMessage,
} from './rows.js';
import type { Database } from './schema.js';
import {
  type AppendOutcome,
  type AppendRequest,
  type AppointmentStatus,
  type ConversationInfo,
  type DataKeyRecord,
  type MessageSealer,
  type NewAppointment,
  type NewCase,
  type NewUser,
  type Store,
  type StoredMessage,
  StoreUnavailableError,
} from './store.js';

// bigint (int8) columns hold times in ms and seqs: well inside 2^53, so read them as numbers.
const INT8_OID = 20;
const parseInt8 = (v: string): number => Number(v);
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID ? parseInt8 : (pg.types.getTypeParser(oid, format) as unknown)) as typeof pg.types.getTypeParser,
};

/** SQLSTATE classes and codes that mean "not now" (connection lost, server shutting down, contention). */
const TRANSIENT_SQLSTATE = /^(08|53|57P|40001|40P01|55P03)/;
const TRANSIENT_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);

export function isTransientPgError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && (TRANSIENT_ERRNO.has(e.code) || TRANSIENT_SQLSTATE.test(e.code))) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended|not queryable/i.test(
    msg,
  );
}

export interface PostgresStoreOptions {
  readonly connectionString: string;
  /** Schema for every table, the migration bookkeeping included. Default `public`. */
  readonly schema?: string;
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number;
  /** How long to wait for a connection before failing as unavailable. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Longest a statement may run before failing as unavailable. Default 10,000 ms. */
  readonly statementTimeoutMs?: number;
}

export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
  /** The typed query layer, for the cold queries of the care model. */
  readonly kysely: Kysely<Database>;
  private readonly schema: string;

  constructor(options: PostgresStoreOptions) {
    this.schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schema)) throw new Error(`invalid PostgreSQL schema name ${this.schema}`);
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      options: `-c search_path=${this.schema}`,
      max: options.poolSize ?? 10,
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
    this.kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.kysely as Kysely<unknown>, 'postgres', this.schema);
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isTransientPgError(err)) {
        throw new StoreUnavailableError(`store unavailable: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
  }

  ping(): Promise<void> {
    return this.guard(async () => {
      await this.pool.query('SELECT 1');
    });
  }

  async close(): Promise<void> {
    await this.kysely.destroy();
  }

  getConversation(id: string): Promise<ConversationInfo | undefined> {
    return this.guard(async () => {
      const { rows } = await this.pool.query<ConversationRow>(`${CONVERSATION_SELECT} WHERE c.id = $1`, [id]);
      return rows[0] && toConversation(rows[0]);
    });
  }

  append(batch: readonly AppendRequest[], sealer: MessageSealer): Promise<AppendOutcome[]> {
    return this.guard(async () => {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const convIds = [...new Set(batch.map((r) => r.conv))].sort();
        // Lock in id order: two nodes appending to the same conversations never wait on each other in a cycle.
        await client.query('SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE', [convIds]);
        const convRows = await client.query<ConversationRow>(`${CONVERSATION_SELECT} WHERE c.id = ANY($1)`, [convIds]);
        const conversations = new Map(convRows.rows.map((r) => [r.id, toConversation(r)]));
        const earlierRows = await client.query<MessageRow>(
          `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ANY($1) AND client_msg_id = ANY($2)`,
          [convIds, [...new Set(batch.map((r) => r.clientMsgId))]],
        );
        const earlier = new Map<string, StoredMessage>();
        for (const r of earlierRows.rows)
          earlier.set(`${r.conversation_id}\u0000${r.sender_id}\u0000${r.client_msg_id}`, toMessage(r));
        const plan = planAppend(
          batch,
          (id) => conversations.get(id),
          (conv, sender, clientMsgId) => earlier.get(`${conv}\u0000${sender}\u0000${clientMsgId}`),
          sealer,
        );
        if (plan.inserts.length > 0) {
          const ins = plan.inserts;
          await client.query(
            `INSERT INTO messages (${MESSAGE_COLUMNS})
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bigint[])`,
            [
              ins.map((m) => m.conv),
              ins.map((m) => m.seq),
              ins.map((m) => m.senderId),
              ins.map((m) => m.senderRole),
              ins.map((m) => m.clientMsgId),
              ins.map((m) => m.keyId),
              ins.map((m) => Buffer.from(m.ciphertext)),
              ins.map((m) => m.ts),
            ],
          );
          const seqs = [...plan.lastSeqs];
          await client.query(
            `UPDATE conversations SET last_seq = v.seq
               FROM unnest($1::text[], $2::bigint[]) AS v(id, seq) WHERE conversations.id = v.id`,
            [seqs.map(([id]) => id), seqs.map(([, seq]) => seq)],
          );
        }
        await client.query('COMMIT');
        return plan.outcomes;
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

  messagesAfter(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.guard(async () => {
      const { rows } = await this.pool.query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [conv, afterSeq, limit],
      );
      return rows.map(toMessage);
    });
  }

  messagesBefore(conv: string, beforeSeq: number | undefined, limit: number): Promise<StoredMessage[]> {
    return this.guard(async () => {
      const { rows } = await this.pool.query<MessageRow>(
        `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`,
        [conv, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit],
      );
      return rows.map(toMessage).reverse();
    });
  }

  dataKeysForCase(caseId: string): Promise<DataKeyRecord[]> {
    return this.guard(() => domainQueries.dataKeysForCase(this.kysely, caseId));
  }

  insertDataKey(key: DataKeyRecord): Promise<void> {
    return this.guard(() => domainQueries.insertDataKey(this.kysely, key));
  }

  createUser(user: NewUser): Promise<void> {
    return domainQueries.createUser(this.kysely, user);
  }

  createCase(c: NewCase): Promise<void> {
    return domainQueries.createCase(this.kysely, c);
  }

  createAppointment(a: NewAppointment): Promise<void> {
    return domainQueries.createAppointment(this.kysely, a);
  }

  setAppointmentStatus(id: string, status: AppointmentStatus, at: number): Promise<void> {
    return domainQueries.setAppointmentStatus(this.kysely, id, status, at);
  }
}
