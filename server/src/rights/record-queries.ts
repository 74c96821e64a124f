/**
 * The cold queries behind a patient's data rights and a supervisor's view, through Kysely (one implementation for
 * SQLite and PostgreSQL). Every list is in a stable order, so that an export of the same record reads the same.
 */
import type { Kysely, Selectable } from 'kysely';
import type { CasesTable, Database, DataRequestsTable, NotesTable } from '../store/schema.js';

export type CaseRow = Selectable<CasesTable>;
export type NoteRow = Selectable<NotesTable>;
export type DataRequestRow = Selectable<DataRequestsTable>;
export { appointmentsOf, threadOf, type AppointmentRow } from '../store/case-queries.js';

/** The patient's cases, oldest first. */
export function casesOfPatient(db: Kysely<Database>, patientId: string): Promise<CaseRow[]> {
  return casesWhere(db, 'patient_id', patientId);
}

/** The cases a supervisor supervises, oldest first. */
export function casesOfSupervisor(db: Kysely<Database>, supervisorId: string): Promise<CaseRow[]> {
  return casesWhere(db, 'supervisor_id', supervisorId);
}

function casesWhere(db: Kysely<Database>, column: 'patient_id' | 'supervisor_id', userId: string): Promise<CaseRow[]> {
  return db.selectFrom('cases').selectAll().where(column, '=', userId).orderBy('opened_at').orderBy('id').execute();
}

export function caseById(db: Kysely<Database>, caseId: string): Promise<CaseRow | undefined> {
  return db.selectFrom('cases').selectAll().where('id', '=', caseId).executeTakeFirst();
}

/** The case's notes (therapist notes and correction notes), oldest first; `kind` narrows them. */
export function notesOf(db: Kysely<Database>, caseId: string, kind?: 'therapist' | 'correction'): Promise<NoteRow[]> {
  let q = db.selectFrom('notes').selectAll().where('case_id', '=', caseId);
  if (kind) q = q.where('kind', '=', kind);
  return q.orderBy('created_at').orderBy('id').execute();
}

export function noteById(db: Kysely<Database>, noteId: string): Promise<NoteRow | undefined> {
  return db.selectFrom('notes').selectAll().where('id', '=', noteId).executeTakeFirst();
}

/** The conversation with its case and last seq, if it exists. */
export function conversationById(
  db: Kysely<Database>,
  conversationId: string,
): Promise<{ id: string; case_id: string; last_seq: number } | undefined> {
  return db
    .selectFrom('conversations')
    .select(['id', 'case_id', 'last_seq'])
    .where('id', '=', conversationId)
    .executeTakeFirst();
}

export async function insertNote(db: Kysely<Database>, note: NoteRow): Promise<void> {
  await db.insertInto('notes').values(note).execute();
}

/** The user's data requests, oldest first. */
export function dataRequestsOf(db: Kysely<Database>, userId: string): Promise<DataRequestRow[]> {
  return db
    .selectFrom('data_requests')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Break-glass grants on any of the cases, oldest first. */
export function grantsOnCases(db: Kysely<Database>, caseIds: readonly string[]) {
  if (caseIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('break_glass_grants')
    .selectAll()
    .where('case_id', 'in', caseIds)
    .orderBy('granted_at')
    .orderBy('id')
    .execute();
}

export interface RecordPart {
  readonly type: 'conversation' | 'appointment' | 'note' | 'grant';
  readonly id: string;
  readonly caseId: string;
}

/** Every id under which the audit log may name a part of these cases: conversations, appointments, notes, grants. */
export async function recordPartsOfCases(db: Kysely<Database>, caseIds: readonly string[]): Promise<RecordPart[]> {
  if (caseIds.length === 0) return [];
  const [conversations, appointments, notes, grants] = await Promise.all([
    db.selectFrom('conversations').select(['id', 'case_id']).where('case_id', 'in', caseIds).execute(),
    db.selectFrom('appointments').select(['id', 'case_id']).where('case_id', 'in', caseIds).execute(),
    db.selectFrom('notes').select(['id', 'case_id']).where('case_id', 'in', caseIds).execute(),
    db.selectFrom('break_glass_grants').select(['id', 'case_id']).where('case_id', 'in', caseIds).execute(),
  ]);
  const parts = (type: RecordPart['type'], rows: { id: string; case_id: string }[]) =>
    rows.map((r) => ({ type, id: r.id, caseId: r.case_id }));
  return [
    ...parts('conversation', conversations),
    ...parts('appointment', appointments),
    ...parts('note', notes),
    ...parts('grant', grants),
  ];
}

/** Whether the user is the patient of a case that is still active. */
export async function hasActiveCase(db: Kysely<Database>, patientId: string): Promise<boolean> {
  const row = await db
    .selectFrom('cases')
    .select('id')
    .where('patient_id', '=', patientId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  return row !== undefined;
}
