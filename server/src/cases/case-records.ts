/**
 * A case's whole clinical record, decrypted: the thread, every appointment's transcript, and the notes. Read only
 * for someone the access policy has just allowed (break-glass, `record.break-glass-read`); the caller decides and
 * audits, this module only reads.
 */
import type { Role } from '@therapy-chat/protocol';
import type { Kysely } from 'kysely';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { Database } from '../store/schema.js';
import type { AppointmentStatus, CaseStatus, Store } from '../store/store.js';
import { CaseError } from './case-error.js';
import { openNote } from '../notes/note-crypto.js';
import { notesOf } from '../rights/record-queries.js';
import { appointmentsOf, threadOf } from '../store/case-queries.js';

/** Messages read from the store per query: a record of years is read in pages, not at once. */
const PAGE = 500;

export interface RecordMessage {
  readonly seq: number;
  readonly senderId: string;
  readonly senderRole: Role;
  readonly text: string;
  readonly sentAt: number;
}

export interface RecordNote {
  readonly noteId: string;
  /** `therapist` (an appointment's clinical note) or `correction` (a patient disputes a fact). */
  readonly kind: string;
  readonly appointmentId: string | null;
  readonly conversationId: string | null;
  readonly seq: number | null;
  readonly targetNoteId: string | null;
  readonly authorRole: string;
  readonly createdAt: number;
  /** The note's text; `null` when it cannot be opened (its key destroyed, or a format this server does not know). */
  readonly text: string | null;
}

export interface CaseRecords {
  readonly caseId: string;
  readonly status: CaseStatus;
  readonly openedAt: number;
  readonly dischargedAt: number | null;
  readonly thread: { readonly conversationId: string; readonly messages: readonly RecordMessage[] } | null;
  readonly appointments: readonly {
    readonly appointmentId: string;
    readonly conversationId: string;
    readonly status: AppointmentStatus;
    readonly scheduledAt: number;
    readonly startedAt: number | null;
    readonly endedAt: number | null;
    readonly messages: readonly RecordMessage[];
  }[];
  readonly notes: readonly RecordNote[];
}

export interface CaseRecordsDeps {
  readonly store: Store;
  readonly keys: DataKeyRing;
}

async function readConversation(deps: CaseRecordsDeps, conv: string): Promise<RecordMessage[]> {
  const out: RecordMessage[] = [];
  let after = 0;
  for (;;) {
    const page = await deps.store.messagesAfter(conv, after, PAGE);
    for (const m of page) {
      out.push({ seq: m.seq, senderId: m.senderId, senderRole: m.senderRole, text: deps.keys.open(m), sentAt: m.ts });
    }
    if (page.length < PAGE) return out;
    after = page[page.length - 1]!.seq;
  }
}

/** The case's notes, opened with its data key (loaded by the caller); a note that cannot be opened has no text. */
async function readNotes(db: Kysely<Database>, keys: DataKeyRing, caseId: string): Promise<RecordNote[]> {
  return (await notesOf(db, caseId)).map((n) => {
    let text: string | null;
    try {
      text = openNote(keys, n);
    } catch {
      text = null;
    }
    return {
      noteId: n.id,
      kind: n.kind,
      appointmentId: n.appointment_id,
      conversationId: n.conversation_id,
      seq: n.seq,
      targetNoteId: n.target_note_id,
      authorRole: n.author_role,
      createdAt: n.created_at,
      text,
    };
  });
}

export async function readCaseRecords(deps: CaseRecordsDeps, caseId: string): Promise<CaseRecords> {
  const db = deps.store.kysely;
  const row = await db
    .selectFrom('cases')
    .select(['id', 'status', 'opened_at', 'discharged_at'])
    .where('id', '=', caseId)
    .executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no case ${caseId}`);
  await deps.keys.ensure(caseId);
  const thread = await threadOf(db, caseId);
  const appointments = await appointmentsOf(db, caseId);
  // One conversation at a time: a long record must not take every pooled connection at once.
  const transcripts: CaseRecords['appointments'][number][] = [];
  for (const a of appointments) {
    transcripts.push({
      appointmentId: a.id,
      conversationId: a.conversationId,
      status: a.status as AppointmentStatus,
      scheduledAt: a.scheduledAt,
      startedAt: a.startedAt,
      endedAt: a.endedAt,
      messages: await readConversation(deps, a.conversationId),
    });
  }
  return {
    caseId,
    status: row.status as CaseStatus,
    openedAt: row.opened_at,
    dischargedAt: row.discharged_at,
    thread: thread ? { conversationId: thread, messages: await readConversation(deps, thread) } : null,
    appointments: transcripts,
    notes: await readNotes(db, deps.keys, caseId),
  };
}
