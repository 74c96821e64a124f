/**
 * A case's conversations as the cold paths read them (an admin's case summary, break-glass records, a patient's
 * export, a supervisor's view): one query each, through Kysely, for SQLite and PostgreSQL alike.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface AppointmentRow {
  readonly id: string;
  readonly conversationId: string;
  readonly status: string;
  readonly scheduledAt: number;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
}

/** The id of the case's inter-session message thread, if it has one. */
export async function threadOf(db: Kysely<Database>, caseId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('conversations')
    .select('id')
    .where('case_id', '=', caseId)
    .where('kind', '=', 'thread')
    .orderBy('created_at')
    .executeTakeFirst();
  return row?.id;
}

/** The case's appointments, in the order they were scheduled. */
export async function appointmentsOf(db: Kysely<Database>, caseId: string): Promise<AppointmentRow[]> {
  const rows = await db
    .selectFrom('appointments')
    .select(['id', 'conversation_id', 'status', 'scheduled_at', 'started_at', 'ended_at'])
    .where('case_id', '=', caseId)
    .orderBy('scheduled_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    conversationId: r.conversation_id,
    status: r.status,
    scheduledAt: r.scheduled_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  }));
}
