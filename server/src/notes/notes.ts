/**
 * Clinical notes: the therapist's note of an appointment, written once it has ended, and the patients' correction
 * notes (written elsewhere). Records are never edited: there is one therapist note per appointment, and its id is
 * derived from the appointment's, so the primary key itself refuses a second one, on every dialect and across nodes.
 * The text is sealed with the case's data key, bound by AAD to the note's id and field (`note.text`).
 */
import type { Kysely } from 'kysely';
import type { Role } from '@therapy-chat/protocol';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { Database } from '../store/schema.js';

/** The AAD field name of a note's text. */
export const NOTE_TEXT_FIELD = 'note.text';

/** The id of an appointment's therapist note: one per appointment. */
export function therapistNoteId(appointmentId: string): string {
  return `nt_${appointmentId}`;
}

export interface NewTherapistNote {
  readonly caseId: string;
  readonly appointmentId: string;
  readonly authorId: string;
  readonly text: string;
  readonly at: number;
}

export type WriteNoteResult = { readonly kind: 'written'; readonly noteId: string } | { readonly kind: 'exists' };

/** True for a primary-key or unique violation, on SQLite or PostgreSQL. */
function isDuplicate(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Seals and stores the appointment's therapist note, unless it has one already. The case's keys must be loaded. */
export async function writeTherapistNote(
  db: Kysely<Database>,
  keys: DataKeyRing,
  note: NewTherapistNote,
): Promise<WriteNoteResult> {
  const noteId = therapistNoteId(note.appointmentId);
  const { keyId, ciphertext } = keys.sealField(note.caseId, NOTE_TEXT_FIELD, noteId, note.text);
  try {
    await db
      .insertInto('notes')
      .values({
        id: noteId,
        case_id: note.caseId,
        kind: 'therapist',
        appointment_id: note.appointmentId,
        conversation_id: null,
        seq: null,
        target_note_id: null,
        author_id: note.authorId,
        author_role: 'therapist',
        key_id: keyId,
        text_ct: ciphertext,
        created_at: note.at,
      })
      .execute();
  } catch (err) {
    if (isDuplicate(err)) return { kind: 'exists' };
    throw err;
  }
  return { kind: 'written', noteId };
}

export interface Note {
  readonly noteId: string;
  /** `therapist` (an appointment's clinical note) or `correction` (the patient disputes a fact). */
  readonly kind: string;
  readonly authorRole: Role;
  readonly appointmentId: string | null;
  /** What a correction disputes: a message (conversation and seq) or another note. */
  readonly conversationId: string | null;
  readonly seq: number | null;
  readonly targetNoteId: string | null;
  readonly text: string;
  readonly createdAt: number;
}

/** Every note of the case, oldest first, opened. The case's keys must be loaded. */
export async function caseNotes(db: Kysely<Database>, keys: DataKeyRing, caseId: string): Promise<Note[]> {
  const rows = await db
    .selectFrom('notes')
    .selectAll()
    .where('case_id', '=', caseId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    noteId: r.id,
    kind: r.kind,
    authorRole: r.author_role as Role,
    appointmentId: r.appointment_id,
    conversationId: r.conversation_id,
    seq: r.seq === null ? null : Number(r.seq),
    targetNoteId: r.target_note_id,
    text: keys.openField(r.key_id, NOTE_TEXT_FIELD, r.id, r.text_ct),
    createdAt: Number(r.created_at),
  }));
}
