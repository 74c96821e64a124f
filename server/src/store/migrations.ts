/**
 * One migration set for every SQL dialect. Column types are chosen to mean the same on SQLite and PostgreSQL:
 * `bigint` for times and seqs (milliseconds overflow a 32-bit integer), and the dialect's binary type for ciphertext.
 */
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

export function migrationProvider(dialect: Dialect): MigrationProvider {
  const binary = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  const migrations: Record<string, Migration> = {
    '0001_chat_core': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('cases')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('patient_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('therapist_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('opened_at', 'bigint', (c) => c.notNull())
          .addColumn('discharged_at', 'bigint')
          .execute();
        await db.schema
          .createTable('data_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id'))
          .addColumn('kek_id', 'text', (c) => c.notNull())
          .addColumn('wrapped', binary, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('data_keys_case').on('data_keys').column('case_id').execute();
        await db.schema
          .createTable('conversations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('appointments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id'))
          .addColumn('conversation_id', 'text', (c) => c.notNull().unique().references('conversations.id'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('scheduled_at', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'bigint')
          .addColumn('ended_at', 'bigint')
          .execute();
        await db.schema
          .createTable('messages')
          .addColumn('conversation_id', 'text', (c) => c.notNull().references('conversations.id'))
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('sender_id', 'text', (c) => c.notNull())
          .addColumn('sender_role', 'text', (c) => c.notNull())
          .addColumn('client_msg_id', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('text_ct', binary, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('messages_pk', ['conversation_id', 'seq'])
          .execute();
        await db.schema
          .createIndex('messages_client_msg_id')
          .on('messages')
          .columns(['conversation_id', 'sender_id', 'client_msg_id'])
          .unique()
          .execute();
      },
    },
    // The audit log (server/src/audit/, docs/audit.md): append-only events chained by hash, and a one-row head that
    // every append locks and moves, so that appends from several nodes take turns and the chain stays linear.
    '0002_audit_log': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('audit_events')
          .addColumn('seq', 'bigint', (c) => c.primaryKey())
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('occurred_at', 'bigint', (c) => c.notNull())
          .addColumn('actor_id', 'text')
          .addColumn('actor_role', 'text', (c) => c.notNull())
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('resource_type', 'text')
          .addColumn('resource_id', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('reason', 'text')
          .addColumn('ip', 'text')
          .addColumn('device', 'text')
          .execute();
        // "Who accessed this case / what did this user do": the questions an investigation or a patient asks.
        await db.schema
          .createIndex('audit_events_resource')
          .on('audit_events')
          .columns(['resource_type', 'resource_id', 'seq'])
          .execute();
        await db.schema.createIndex('audit_events_actor').on('audit_events').columns(['actor_id', 'seq']).execute();
        await db.schema
          .createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .execute();
        // The genesis hash (GENESIS_HASH in audit-chain.ts), written out: a migration must not change with the code.
        await sql`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ${'0'.repeat(64)})`.execute(db);
        // Defence in depth: the sink only inserts, and the database refuses anything else on the events. An owner can
        // drop the trigger; verification is what catches that.
        if (dialect === 'postgres') {
          await sql`CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$`.execute(db);
          await sql`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
          await sql`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()`.execute(db);
        } else {
          await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`.execute(db);
          await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`.execute(db);
        }
      },
    },
    // The care model (DESIGN §1–2, docs/privacy.md): accounts with identity kept apart from clinical data and
    // sealed under a per-user key, contracts (minimum age), supervision and re-referral links on cases, clinical and
    // correction notes, break-glass grants, login sessions with refresh tokens, and patients' data-rights requests.
    '0003_care_model': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .alterTable('users')
          .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
          .execute();
        // A login name chosen by the admin (not an email: identity stays sealed); null for users of an external IdP.
        await db.schema.alterTable('users').addColumn('login', 'text').execute();
        await db.schema.alterTable('users').addColumn('password_hash', 'text').execute();
        // The subject of an external identity provider's tokens, when the user logs in there.
        await db.schema.alterTable('users').addColumn('external_subject', 'text').execute();
        // Identity fields (name, date of birth, email, phone, NHS number, GP) as one sealed JSON document.
        await db.schema.alterTable('users').addColumn('identity_key_id', 'text').execute();
        await db.schema.alterTable('users').addColumn('identity_ct', binary).execute();
        await db.schema.alterTable('users').addColumn('disabled_at', 'bigint').execute();
        await db.schema.alterTable('users').addColumn('identity_erased_at', 'bigint').execute();
        await db.schema.createIndex('users_login').on('users').column('login').unique().execute();
        await db.schema.createIndex('users_external_subject').on('users').column('external_subject').unique().execute();
        // Per-user data keys for identity fields, wrapped by the KEK like the cases' keys. Deleting them erases identity.
        await db.schema
          .createTable('user_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('kek_id', 'text', (c) => c.notNull())
          .addColumn('wrapped', binary, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('user_keys_user').on('user_keys').column('user_id').execute();
        await db.schema
          .createTable('contracts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('min_age', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await sql`INSERT INTO contracts (id, name, min_age, created_at) VALUES ('default', 'Default contract', 18, 0)`.execute(
          db,
        );
        await db.schema
          .alterTable('cases')
          .addColumn('supervisor_id', 'text', (c) => c.references('users.id'))
          .execute();
        // SQLite cannot add a non-null column with a foreign key; the admin API checks the contract exists.
        await db.schema
          .alterTable('cases')
          .addColumn('contract_id', 'text', (c) => c.notNull().defaultTo('default'))
          .execute();
        // Re-referral: the earlier case of the same patient, whose records the new case's therapist may read.
        await db.schema
          .alterTable('cases')
          .addColumn('previous_case_id', 'text', (c) => c.references('cases.id'))
          .execute();
        await db.schema.alterTable('cases').addColumn('referral_verified_at', 'bigint').execute();
        await db.schema.alterTable('cases').addColumn('guardian_consent_at', 'bigint').execute();
        // Processing restricted at the patient's request (records kept, shown only to the patient and by break-glass).
        await db.schema.alterTable('cases').addColumn('restricted_at', 'bigint').execute();
        // Retention ended: the case's data keys were destroyed and its records can no longer be read.
        await db.schema.alterTable('cases').addColumn('shredded_at', 'bigint').execute();
        await db.schema.createIndex('cases_patient').on('cases').column('patient_id').execute();
        await db.schema.createIndex('cases_therapist').on('cases').column('therapist_id').execute();
        await db.schema.createIndex('cases_supervisor').on('cases').column('supervisor_id').execute();
        await db.schema.createIndex('cases_previous').on('cases').column('previous_case_id').execute();
        await db.schema
          .createIndex('appointments_case')
          .on('appointments')
          .columns(['case_id', 'scheduled_at'])
          .execute();
        // Therapist notes (one per appointment, written at its end) and patients' correction notes; never edited.
        await db.schema
          .createTable('notes')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('appointment_id', 'text', (c) => c.references('appointments.id'))
          // What a correction disputes: a message (conversation + seq) or another note.
          .addColumn('conversation_id', 'text')
          .addColumn('seq', 'bigint')
          .addColumn('target_note_id', 'text')
          .addColumn('author_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('author_role', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('text_ct', binary, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('notes_case').on('notes').columns(['case_id', 'created_at']).execute();
        await db.schema
          .createTable('break_glass_grants')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('case_id', 'text', (c) => c.notNull().references('cases.id'))
          .addColumn('admin_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('reason', 'text', (c) => c.notNull())
          .addColumn('granted_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('break_glass_case')
          .on('break_glass_grants')
          .columns(['case_id', 'expires_at'])
          .execute();
        // A login: one refresh-token family. Rotation replaces `refresh_hash`; presenting an older one revokes it all.
        await db.schema
          .createTable('auth_sessions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('refresh_hash', 'text', (c) => c.notNull())
          .addColumn('previous_refresh_hash', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('refreshed_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('revoked_at', 'bigint')
          .addColumn('ip', 'text')
          .addColumn('device', 'text')
          .execute();
        await db.schema.createIndex('auth_sessions_user').on('auth_sessions').column('user_id').execute();
        await db.schema
          .createIndex('auth_sessions_refresh')
          .on('auth_sessions')
          .column('refresh_hash')
          .unique()
          .execute();
        // Erasure and restriction requests: recorded, then honoured as DESIGN §2 says.
        await db.schema
          .createTable('data_requests')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
          .addColumn('case_id', 'text', (c) => c.references('cases.id'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('scope', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('outcome', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('resolved_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('data_requests_user')
          .on('data_requests')
          .columns(['user_id', 'created_at'])
          .execute();
      },
    },
    // The client-id index leads with the client id. Clients send time-ordered ids (`newClientMsgId()` in protocol/),
    // so each new entry lands at the right-hand edge of the index, on pages the whole group commit shares; led by the
    // conversation, every message dirtied a leaf page of its own, which was about 40 % of SQLite's work per message.
    // The same three columns stay unique, so dedupe means exactly what it meant. SQLite runs a migration outside a
    // transaction, so the new index is built before the old one is dropped, and both steps can run again: a start
    // cut off in between leaves a database that still dedupes, and the next start finishes.
    '0004_client_id_index_order': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createIndex('messages_by_client_msg_id')
          .ifNotExists()
          .on('messages')
          .columns(['client_msg_id', 'conversation_id', 'sender_id'])
          .unique()
          .execute();
        await db.schema.dropIndex('messages_client_msg_id').ifExists().execute();
      },
    },
  };
  return { getMigrations: async () => migrations };
}

/** Brings a database up to the latest migration, or throws naming the migration that failed. */
export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    ...(schema !== undefined && { migrationTableSchema: schema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `database migration ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
    );
  }
}
