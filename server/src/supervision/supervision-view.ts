/**
 * The supervisor's view (DESIGN §2): the cases they supervise and those cases' transcripts, pseudonymised — speakers
 * only as `patient` and `therapist`, the case by its reference, no user ids and no identity fields — and read-only.
 * The patient's correction notes come with it, so that a disputed fact is never read without its dispute.
 *
 * Message text is the patient's own words and is shown as written: a patient who types their name is not
 * pseudonymised by this view (no honest filter can promise that), which docs/privacy.md says.
 */
import type { DataKeyRing } from '../crypto/data-keys.js';
import { openNote } from '../notes/note-crypto.js';
import { pseudonym } from '../rights/access-report.js';
import { disputed } from '../rights/record-export.js';
import { appointmentsOf, notesOf, threadOf, type AppointmentRow, type CaseRow } from '../rights/record-queries.js';
import { iso, isoOrNull, messagePages } from '../rights/transcript-pages.js';
import type { Store } from '../store/store.js';

export interface SupervisionDeps {
  readonly store: Store;
  readonly keys: DataKeyRing;
}

/** The therapist as their supervisor sees them: a label, the same across the supervisor's cases. */
export const therapistLabel = (supervisorId: string, therapistId: string) =>
  pseudonym(`supervisor:${supervisorId}`, 'therapist', therapistId);

/** A speaker by role only. */
const speakerOf = (role: string) => (role === 'patient' || role === 'therapist' ? role : 'staff');

export const appointmentView = (a: AppointmentRow) => ({
  appointmentId: a.id,
  status: a.status,
  scheduledAt: iso(a.scheduledAt),
  startedAt: isoOrNull(a.startedAt),
  endedAt: isoOrNull(a.endedAt),
});

export const caseHeader = (supervisorId: string, c: CaseRow) => ({
  ref: c.id,
  status: c.status,
  openedAt: iso(c.opened_at),
  dischargedAt: isoOrNull(c.discharged_at),
  therapist: therapistLabel(supervisorId, c.therapist_id),
});

const j = (v: unknown) => JSON.stringify(v);

async function* messagesJson(deps: SupervisionDeps, conversationId: string): AsyncGenerator<string> {
  yield '[';
  let first = true;
  for await (const page of messagePages(deps.store, deps.keys, conversationId)) {
    yield (
      (first ? '' : ',') +
      page.map((m) => j({ seq: m.seq, sentAt: iso(m.ts), speaker: speakerOf(m.senderRole), text: m.text })).join(',')
    );
    first = false;
  }
  yield ']';
}

/**
 * The case's thread, every appointment's transcript and the patient's corrections, as JSON text chunks (a bounded
 * page of messages at a time). The caller has decided `case.supervise` and loaded the case's keys.
 */
export async function* supervisedTranscripts(
  deps: SupervisionDeps,
  supervisorId: string,
  c: CaseRow,
): AsyncGenerator<string> {
  const db = deps.store.kysely;
  const threadId = await threadOf(db, c.id);
  const appointments = await appointmentsOf(db, c.id);
  yield `{"case":${j(caseHeader(supervisorId, c))},"thread":`;
  if (threadId !== undefined) {
    yield `{"conversationId":${j(threadId)},"messages":`;
    yield* messagesJson(deps, threadId);
    yield '}';
  } else {
    yield 'null';
  }
  yield ',"appointments":[';
  for (const [i, a] of appointments.entries()) {
    yield `${i ? ',' : ''}${j({ ...appointmentView(a), conversationId: a.conversationId }).slice(0, -1)},"messages":`;
    yield* messagesJson(deps, a.conversationId);
    yield '}';
  }
  const corrections = (await notesOf(db, c.id, 'correction')).map((n) => ({
    id: n.id,
    disputes: disputed(n),
    author: speakerOf(n.author_role),
    writtenAt: iso(n.created_at),
    text: openNote(deps.keys, n),
  }));
  yield `],"corrections":${j(corrections)}}\n`;
}
