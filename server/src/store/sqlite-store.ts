/**
 * The embedded store: one SQLite file (better-sqlite3) in WAL mode with `synchronous=FULL`, so a commit is on disk
 * when it returns. Schema and cold queries go through Kysely; the hot path (group commit, replay) uses prepared
 * statements run synchronously, so a whole batch is one transaction with no `await` inside it.
 */
import fs from "node:fs";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, Migrator, SqliteDialect } from "kysely";
import type { Role } from "@therapy-chat/protocol";
import { migrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";
import {
  type AppendOutcome,
  type AppendRequest,
  type AppointmentStatus,
  type CaseStatus,
  type ConversationInfo,
  type ConversationKind,
  type DataKeyRecord,
  type MessageSealer,
  type NewAppointment,
  type NewCase,
  type NewUser,
  type Store,
  type StoredMessage,
  StoreUnavailableError,
  conversationAcceptsMessages,
} from "./store.js";

export const SQLITE_FILE_NAME = "therapy-chat.sqlite";

interface ConversationRow {
  id: string;
  kind: string;
  case_id: string;
  last_seq: number;
  case_status: string;
  patient_id: string;
  therapist_id: string;
  appointment_id: string | null;
  appointment_status: string | null;
}

interface MessageRow {
  conversation_id: string;
  seq: number;
  sender_id: string;
  sender_role: string;
  client_msg_id: string;
  key_id: string;
  text_ct: Buffer;
  created_at: number;
}

const MESSAGE_COLUMNS =
  "conversation_id, seq, sender_id, sender_role, client_msg_id, key_id, text_ct, created_at";

// Errors that mean "not now" rather than "never": the caller answers UNAVAILABLE and the client resends.
const TRANSIENT_CODES = new Set([
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
  "SQLITE_IOERR",
  "SQLITE_FULL",
  "SQLITE_CANTOPEN",
]);

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === "string" &&
    [...TRANSIENT_CODES].some((c) => code.startsWith(c))
  );
}

function toMessage(r: MessageRow): StoredMessage {
  return {
    conv: r.conversation_id,
    seq: r.seq,
    senderId: r.sender_id,
    senderRole: r.sender_role as Role,
    clientMsgId: r.client_msg_id,
    keyId: r.key_id,
    ciphertext: r.text_ct,
    ts: r.created_at,
  };
}

function toConversation(r: ConversationRow): ConversationInfo {
  return {
    id: r.id,
    kind: r.kind as ConversationKind,
    caseId: r.case_id,
    caseStatus: r.case_status as CaseStatus,
    patientId: r.patient_id,
    therapistId: r.therapist_id,
    appointmentId: r.appointment_id,
    appointmentStatus: r.appointment_status as AppointmentStatus | null,
    lastSeq: r.last_seq,
  };
}

export interface SqliteStoreOptions {
  /** Directory of the database file, or `:memory:`. */
  readonly dataDir: string;
  /** How long a write waits for another process's lock before failing as unavailable. Default 2,000 ms. */
  readonly busyTimeoutMs?: number;
}

function prepareStatements(db: BetterSqlite3.Database) {
  return {
    conversation: db.prepare<[string], ConversationRow>(
      `SELECT c.id, c.kind, c.case_id, c.last_seq, k.status AS case_status, k.patient_id, k.therapist_id,
              a.id AS appointment_id, a.status AS appointment_status
         FROM conversations c
         JOIN cases k ON k.id = c.case_id
         LEFT JOIN appointments a ON a.conversation_id = c.id
        WHERE c.id = ?`,
    ),
    byClientMsgId: db.prepare<[string, string, string], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_msg_id = ?`,
    ),
    insertMessage: db.prepare(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    setLastSeq: db.prepare<[number, string]>(
      "UPDATE conversations SET last_seq = ? WHERE id = ?",
    ),
    after: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    before: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    ),
    ping: db.prepare("SELECT 1"),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

export class SqliteStore implements Store {
  readonly file: string;
  private readonly db: BetterSqlite3.Database;
  private readonly kysely: Kysely<Database>;
  private stmt: Statements | undefined;
  private readonly appendTx: BetterSqlite3.Transaction<
    (batch: readonly AppendRequest[], sealer: MessageSealer) => AppendOutcome[]
  >;

  constructor(options: SqliteStoreOptions) {
    if (options.dataDir === ":memory:") {
      this.file = ":memory:";
    } else {
      fs.mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      this.file = path.join(options.dataDir, SQLITE_FILE_NAME);
    }
    this.db = new BetterSqlite3(this.file);
    this.db.pragma("journal_mode = WAL");
    // FULL: in WAL mode the WAL is fsynced at every commit, so an acknowledged message survives power loss.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma(
      `busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 2000))}`,
    );
    this.kysely = new Kysely<Database>({
      dialect: new SqliteDialect({ database: this.db }),
    });
    this.appendTx = this.db.transaction(
      (batch: readonly AppendRequest[], sealer: MessageSealer) =>
        this.appendInTransaction(batch, sealer),
    );
  }

  /** The prepared statements; they exist once `migrate()` has created the tables. */
  private get q(): Statements {
    if (!this.stmt) throw new Error("SqliteStore used before migrate()");
    return this.stmt;
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.kysely, provider: migrationProvider('sqlite') });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
      throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.stmt = prepareStatements(this.db);
  }

  private guard<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      if (isTransient(err)) {
        return Promise.reject(
          new StoreUnavailableError(
            `store unavailable: ${(err as Error).message}`,
            { cause: err },
          ),
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
        this.db.pragma("wal_checkpoint(TRUNCATE)");
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

  append(
    batch: readonly AppendRequest[],
    sealer: MessageSealer,
  ): Promise<AppendOutcome[]> {
    return this.guard(() => this.appendTx.immediate(batch, sealer));
  }

  private appendInTransaction(
    batch: readonly AppendRequest[],
    sealer: MessageSealer,
  ): AppendOutcome[] {
    const conversations = new Map<string, ConversationInfo | null>();
    const inBatch = new Map<string, { text: string; message: StoredMessage }>();
    const outcomes: AppendOutcome[] = [];
    for (const req of batch) {
      let info = conversations.get(req.conv);
      if (info === undefined) {
        const row = this.q.conversation.get(req.conv);
        info = row ? toConversation(row) : null;
        conversations.set(req.conv, info);
      }
      if (info === null) {
        outcomes.push({ kind: "not-found" });
        continue;
      }
      const dedupeKey = `${req.conv}\u0000${req.senderId}\u0000${req.clientMsgId}`;
      const earlier = inBatch.get(dedupeKey);
      if (earlier) {
        outcomes.push(
          earlier.text === req.text
            ? { kind: "duplicate", message: earlier.message }
            : { kind: "mismatch" },
        );
        continue;
      }
      const existingRow = this.q.byClientMsgId.get(
        req.conv,
        req.senderId,
        req.clientMsgId,
      );
      if (existingRow) {
        const existing = toMessage(existingRow);
        outcomes.push(
          sealer.open(existing) === req.text
            ? { kind: "duplicate", message: existing }
            : { kind: "mismatch" },
        );
        continue;
      }
      if (!conversationAcceptsMessages(info)) {
        outcomes.push({ kind: "closed" });
        continue;
      }
      const seq = info.lastSeq + 1;
      const { keyId, ciphertext } = sealer.seal(
        info.caseId,
        req.conv,
        seq,
        req.text,
      );
      this.q.insertMessage.run(
        req.conv,
        seq,
        req.senderId,
        req.senderRole,
        req.clientMsgId,
        keyId,
        ciphertext,
        req.ts,
      );
      const message: StoredMessage = {
        conv: req.conv,
        seq,
        senderId: req.senderId,
        senderRole: req.senderRole,
        clientMsgId: req.clientMsgId,
        keyId,
        ciphertext,
        ts: req.ts,
      };
      inBatch.set(dedupeKey, { text: req.text, message });
      conversations.set(req.conv, { ...info, lastSeq: seq });
      outcomes.push({ kind: "stored", message });
    }
    for (const [id, info] of conversations) {
      if (info) this.q.setLastSeq.run(info.lastSeq, id);
    }
    return outcomes;
  }

  messagesAfter(
    conv: string,
    afterSeq: number,
    limit: number,
  ): Promise<StoredMessage[]> {
    return this.guard(() =>
      this.q.after.all(conv, afterSeq, limit).map(toMessage),
    );
  }

  messagesBefore(
    conv: string,
    beforeSeq: number | undefined,
    limit: number,
  ): Promise<StoredMessage[]> {
    return this.guard(() =>
      this.q.before
        .all(conv, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit)
        .map(toMessage)
        .reverse(),
    );
  }

  async dataKeysForCase(caseId: string): Promise<DataKeyRecord[]> {
    const rows = await this.kysely
      .selectFrom("data_keys")
      .selectAll()
      .where("case_id", "=", caseId)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      caseId: r.case_id,
      kekId: r.kek_id,
      wrapped: Buffer.from(r.wrapped),
      createdAt: r.created_at,
    }));
  }

  async insertDataKey(key: DataKeyRecord): Promise<void> {
    await this.kysely
      .insertInto("data_keys")
      .values({
        id: key.id,
        case_id: key.caseId,
        kek_id: key.kekId,
        wrapped: key.wrapped,
        created_at: key.createdAt,
      })
      .execute();
  }

  async createUser(user: NewUser): Promise<void> {
    await this.kysely
      .insertInto("users")
      .values({ id: user.id, role: user.role, created_at: Date.now() })
      .execute();
  }

  async createCase(c: NewCase): Promise<void> {
    const now = Date.now();
    await this.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto("cases")
        .values({
          id: c.id,
          patient_id: c.patientId,
          therapist_id: c.therapistId,
          status: "active",
          opened_at: now,
          discharged_at: null,
        })
        .execute();
      await trx
        .insertInto("conversations")
        .values({
          id: c.threadId,
          case_id: c.id,
          kind: "thread",
          created_at: now,
        })
        .execute();
    });
  }

  async createAppointment(a: NewAppointment): Promise<void> {
    const now = Date.now();
    await this.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto("conversations")
        .values({
          id: a.conversationId,
          case_id: a.caseId,
          kind: "appointment",
          created_at: now,
        })
        .execute();
      await trx
        .insertInto("appointments")
        .values({
          id: a.id,
          case_id: a.caseId,
          conversation_id: a.conversationId,
          status: a.status,
          scheduled_at: a.scheduledAt,
          started_at: a.status === "live" ? now : null,
          ended_at: null,
        })
        .execute();
    });
  }

  async setAppointmentStatus(
    id: string,
    status: AppointmentStatus,
    at: number,
  ): Promise<void> {
    const patch =
      status === "live"
        ? { status, started_at: at }
        : status === "ended"
          ? { status, ended_at: at }
          : { status };
    const res = await this.kysely
      .updateTable("appointments")
      .set(patch)
      .where("id", "=", id)
      .executeTakeFirst();
    if (res.numUpdatedRows === 0n) throw new Error(`no appointment ${id}`);
  }
}
