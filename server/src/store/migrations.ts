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
