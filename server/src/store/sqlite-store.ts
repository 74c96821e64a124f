/**
 * The embedded store: one SQLite file (better-sqlite3) in WAL mode with `synchronous=FULL`, so a commit is on disk
 * when it returns. Schema and cold queries go through Kysely; the hot path (group commit, replay) uses prepared
 * statements run synchronously, so a whole batch is one transaction with no `await` inside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { migrateToLatest } from './migrations.js';
import type { Database } from './schema.js';
import {
  type AppendOutcome,
  type AppendRequest,
  type AppendTarget,
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
import { planAppend } from './append-plan.js';
import * as domainQueries from './domain-queries.js';
import {
  APPEND_TARGET_SELECT,
  CONVERSATION_SELECT,
  MESSAGE_COLUMNS,
  type AppendTargetRow,
  type ConversationRow,
  type MessageRow,
  toAppendTarget,
  toConversation,
  toMessage,
} from './rows.js';

export const SQLITE_FILE_NAME = 'therapy-chat.sqlite';

// Errors that mean "not now" rather than "never": the caller answers UNAVAILABLE and the client resends.
const TRANSIENT_CODES = new Set(['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN']);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && [...TRANSIENT_CODES].some((c) => code.startsWith(c));
}

export interface SqliteStoreOptions {
  /** Directory of the database file, or `:memory:`. */
  readonly dataDir: string;
  /** How long a write waits for another process's lock before failing as unavailable. Default 2,000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * WAL pages after which a commit folds the WAL back into the database file (`wal_autocheckpoint`). Default 10,000
   * (about 40 MB of WAL). SQLite's own default, 1,000, made every few group commits also checkpoint, which was a
   * fifth of the store's CPU under load; a larger WAL costs disk space and replay time after a crash, not durability
   * (every commit still fsyncs the WAL).
   */
  readonly walAutocheckpointPages?: number;
}

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    conversation: db.prepare<[string], ConversationRow>(`${CONVERSATION_SELECT} WHERE c.id = ?`),
    appendTarget: db.prepare<[string], AppendTargetRow>(`${APPEND_TARGET_SELECT} WHERE c.id = ?`),
    byClientMsgId: db.prepare<[string, string, string], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?`,
    ),
    // Insert first; only a resend (the rare case) conflicts on the client id and is then looked up.
    insertMessage: db.prepare(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING`,
    ),
    setLastSeq: db.prepare<[number, string]>('UPDATE conversations SET last_seq = ? WHERE id = ?'),
    after: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    before: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    ),
    ping: db.prepare('SELECT 1'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class SqliteStore implements Store {
  readonly file: string;
  private readonly db: BetterSqlite3.Database;
  /** The typed query layer, for the cold queries of the care model. */
  readonly kysely: Kysely<Database>;
  private stmt: Statements | undefined;
  private readonly appendTx: BetterSqlite3.Transaction<
    (batch: readonly AppendRequest[], sealer: MessageSealer) => AppendOutcome[]
  >;

  constructor(options: SqliteStoreOptions) {
    if (options.dataDir === ':memory:') {
      this.file = ':memory:';
    } else {
      fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      this.file = path.join(options.dataDir, SQLITE_FILE_NAME);
    }
    this.db = new BetterSqlite3(this.file);
    this.db.pragma('journal_mode = WAL');
    // FULL: in WAL mode the WAL is fsynced at every commit, so an acknowledged message survives power loss.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.floor(options.walAutocheckpointPages ?? 10_000))}`);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 2000))}`);
    this.kysely = new Kysely<Database>({
      dialect: new SqliteDialect({ database: this.db }),
    });
    this.appendTx = this.db.transaction((batch: readonly AppendRequest[], sealer: MessageSealer) =>
      this.appendInTransaction(batch, sealer),
    );
  }

  /** The prepared statements; they exist once `migrate()` has created the tables. */
  private get q(): Statements {
    if (!this.stmt) throw new Error('SqliteStore used before migrate()');
    return this.stmt;
  }

  async migrate(): Promise<void> {
    await migrateToLatest(this.kysely as Kysely<unknown>, 'sqlite');
    this.stmt = prepareStatements(this.db);
  }

  private guard<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (isTransient(err)) {
        return Promise.reject(
          new StoreUnavailableError(`store unavailable: ${(err as Error).message}`, { cause: err }),
        );
      }
      return Promise.reject(err as Error);
    }
  }

  ping(): Promise<void> {
    return this.guard(() => {
      this.q.ping.get();
    });
  }

  async close(): Promise<void> {
    if (this.db.open) {
      // Fold the WAL back into the main file so a copied data directory is one consistent file.
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // Another process may hold the database; the WAL stays and is replayed on next open.
      }
      this.db.close();
    }
  }

  getConversation(id: string): Promise<ConversationInfo | undefined> {
    return this.guard(() => {
      const row = this.q.conversation.get(id);
      return row && toConversation(row);
    });
  }

  append(batch: readonly AppendRequest[], sealer: MessageSealer): Promise<AppendOutcome[]> {
    return this.guard(() => this.appendTx.immediate(batch, sealer));
  }

  private appendInTransaction(batch: readonly AppendRequest[], sealer: MessageSealer): AppendOutcome[] {
    const q = this.q;
    const conversations = new Map<string, AppendTarget | undefined>();
    const plan = planAppend(
      batch,
      (id) => {
        if (!conversations.has(id)) {
          const row = q.appendTarget.get(id);
          conversations.set(id, row && toAppendTarget(row));
        }
        return conversations.get(id);
      },
      (conv, sender, clientMsgId) => {
        const row = q.byClientMsgId.get(conv, sender, clientMsgId);
        return row && toMessage(row);
      },
      sealer,
      (m) =>
        q.insertMessage.run(m.conv, m.seq, m.senderId, m.senderRole, m.clientMsgId, m.keyId, m.ciphertext, m.ts)
          .changes === 1,
    );
    for (const [id, seq] of plan.lastSeqs) q.setLastSeq.run(seq, id);
    return plan.outcomes;
  }

  messagesAfter(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.guard(() => this.q.after.all(conv, afterSeq, limit).map(toMessage));
  }

  messagesBefore(conv: string, beforeSeq: number | undefined, limit: number): Promise<StoredMessage[]> {
    return this.guard(() =>
      this.q.before
        .all(conv, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit)
        .map(toMessage)
        .reverse(),
    );
  }

  dataKeysForCase(caseId: string): Promise<DataKeyRecord[]> {
    return domainQueries.dataKeysForCase(this.kysely, caseId);
  }

  insertDataKey(key: DataKeyRecord): Promise<void> {
    return domainQueries.insertDataKey(this.kysely, key);
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
