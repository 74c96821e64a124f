/**
 * A patient's whole record, for them to take away (DESIGN §2): every case, the thread and every appointment's
 * transcript decrypted, the notes of their cases (therapist notes and their own corrections), their data requests and
 * their own identity fields. Two renderings of one plan: the portable JSON format `therapy-chat-export/1`
 * (docs/api.md) and one self-contained HTML document to read.
 *
 * Both are produced as a stream of text chunks, a bounded page of messages at a time, so that a record of years
 * never sits in memory whole. Other people appear only by role: "you" and "therapist", never by id or name.
 */
import type { Kysely } from 'kysely';
import { readIdentity, type Identity } from '../accounts/identity.js';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { openNote } from '../notes/note-crypto.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import {
  appointmentsOf,
  dataRequestsOf,
  notesOf,
  threadOf,
  type AppointmentRow,
  type CaseRow,
  type DataRequestRow,
  type NoteRow,
} from './record-queries.js';
import { requestView } from './data-requests.js';
import { iso, isoOrNull, messagePages, type PlainMessage } from './transcript-pages.js';

export const EXPORT_FORMAT = 'therapy-chat-export/1';

export interface ExportDeps {
  readonly store: Store;
  readonly keys: DataKeyRing;
  readonly keyProvider: KeyProvider;
}

export interface ExportCase {
  readonly row: CaseRow;
  /** False when the policy refused the case's content (its records were destroyed at the end of retention). */
  readonly readable: boolean;
  readonly threadId: string | undefined;
  readonly appointments: readonly AppointmentRow[];
}

/** Everything small, loaded (and the keys unwrapped) before the first byte is sent; messages and notes follow. */
export interface ExportPlan {
  readonly exportedAt: number;
  readonly patientId: string;
  readonly login: string | null;
  readonly identity: Identity | null;
  readonly identityErasedAt: number | null;
  readonly cases: readonly ExportCase[];
  readonly requests: readonly DataRequestRow[];
}

export async function planExport(
  deps: ExportDeps,
  patientId: string,
  cases: readonly { row: CaseRow; readable: boolean }[],
  now: number,
): Promise<ExportPlan> {
  const db: Kysely<Database> = deps.store.kysely;
  const user = await db
    .selectFrom('users')
    .select(['login', 'identity_erased_at'])
    .where('id', '=', patientId)
    .executeTakeFirst();
  const identity = await readIdentity({ db, provider: deps.keyProvider }, patientId);
  const planned: ExportCase[] = [];
  for (const c of cases) {
    if (c.readable) await deps.keys.ensure(c.row.id);
    planned.push({
      row: c.row,
      readable: c.readable,
      threadId: await threadOf(db, c.row.id),
      appointments: await appointmentsOf(db, c.row.id),
    });
  }
  return {
    exportedAt: now,
    patientId,
    login: user?.login ?? null,
    identity: identity === undefined || identity === 'erased' ? null : identity,
    identityErasedAt: user?.identity_erased_at ?? null,
    cases: planned,
    requests: await dataRequestsOf(db, patientId),
  };
}

/** Who spoke or wrote, as the patient reads it: themselves, or someone by role. */
function speaker(plan: ExportPlan, senderId: string, senderRole: string): string {
  return senderId === plan.patientId ? 'you' : senderRole;
}

/** What a correction note disputes: a message, another note, or the case as a whole (null). */
export function disputed(note: NoteRow): { conversationId: string; seq: number | null } | { noteId: string } | null {
  if (note.conversation_id !== null) return { conversationId: note.conversation_id, seq: note.seq };
  if (note.target_note_id !== null) return { noteId: note.target_note_id };
  return null;
}

// --- JSON ------------------------------------------------------------------------------------------------------------

const j = (v: unknown) => JSON.stringify(v);

async function* jsonMessages(deps: ExportDeps, plan: ExportPlan, conversationId: string): AsyncGenerator<string> {
  yield '[';
  let first = true;
  for await (const page of messagePages(deps.store, deps.keys, conversationId)) {
    const items = page.map((m: PlainMessage) =>
      j({ seq: m.seq, sentAt: iso(m.ts), from: speaker(plan, m.senderId, m.senderRole), text: m.text }),
    );
    yield (first ? '' : ',') + items.join(',');
    first = false;
  }
  yield ']';
}

function jsonNote(deps: ExportDeps, plan: ExportPlan, n: NoteRow) {
  return {
    noteId: n.id,
    kind: n.kind,
    appointmentId: n.appointment_id,
    disputes: n.kind === 'correction' ? disputed(n) : null,
    author: speaker(plan, n.author_id, n.author_role),
    writtenAt: iso(n.created_at),
    text: openNote(deps.keys, n),
  };
}

async function* jsonCase(deps: ExportDeps, plan: ExportPlan, c: ExportCase): AsyncGenerator<string> {
  const r = c.row;
  yield (
    '{' +
    [
      `"ref":${j(r.id)}`,
      `"status":${j(r.status)}`,
      `"openedAt":${j(iso(r.opened_at))}`,
      `"dischargedAt":${j(isoOrNull(r.discharged_at))}`,
      `"restrictedAt":${j(isoOrNull(r.restricted_at))}`,
      `"recordsDestroyedAt":${j(isoOrNull(r.shredded_at))}`,
      `"previousCaseRef":${j(r.previous_case_id)}`,
    ].join(',')
  );
  yield ',"thread":';
  if (c.readable && c.threadId !== undefined) {
    yield `{"conversationId":${j(c.threadId)},"messages":`;
    yield* jsonMessages(deps, plan, c.threadId);
    yield '}';
  } else {
    yield 'null';
  }
  yield ',"appointments":[';
  for (const [i, a] of c.appointments.entries()) {
    yield (
      (i ? ',' : '') +
      `{"appointmentId":${j(a.id)},"status":${j(a.status)},"scheduledAt":${j(iso(a.scheduledAt))},` +
      `"startedAt":${j(isoOrNull(a.startedAt))},"endedAt":${j(isoOrNull(a.endedAt))},"transcript":`
    );
    if (c.readable) {
      yield `{"conversationId":${j(a.conversationId)},"messages":`;
      yield* jsonMessages(deps, plan, a.conversationId);
      yield '}}';
    } else {
      yield 'null}';
    }
  }
  yield '],"notes":';
  yield c.readable ? j((await notesOf(deps.store.kysely, r.id)).map((n) => jsonNote(deps, plan, n))) : '[]';
  yield '}';
}

/** A data request as the API shows it (`requestView`), its id named as the export names ids. */
function jsonRequest(r: DataRequestRow) {
  const { id, ...rest } = requestView(r);
  return { requestId: id, ...rest };
}

/** The record as `therapy-chat-export/1` JSON, in chunks. */
export async function* exportJson(deps: ExportDeps, plan: ExportPlan): AsyncGenerator<string> {
  yield (
    `{"format":${j(EXPORT_FORMAT)},"exportedAt":${j(iso(plan.exportedAt))},"you":` +
    j({
      userId: plan.patientId,
      login: plan.login,
      identity: plan.identity,
      identityErasedAt: isoOrNull(plan.identityErasedAt),
    }) +
    ',"cases":['
  );
  for (const [i, c] of plan.cases.entries()) {
    if (i) yield ',';
    yield* jsonCase(deps, plan, c);
  }
  yield `],"dataRequests":${j(plan.requests.map(jsonRequest))}}\n`;
}

// --- HTML ------------------------------------------------------------------------------------------------------------

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

const h = escapeHtml;
const SPEAKER_LABELS: Record<string, string> = { you: 'You', therapist: 'Your therapist' };
const label = (who: string) => SPEAKER_LABELS[who] ?? who.charAt(0).toUpperCase() + who.slice(1);
/** A time for people (`2026-11-23 21:57 UTC`), with the exact ISO time in the element for machines. */
const when = (ms: number | null) =>
  ms === null ? '—' : `<time datetime="${iso(ms)}">${iso(ms).slice(0, 16).replace('T', ' ')} UTC</time>`;

// Inline styles only: the document must read the same offline, with nothing fetched and nothing run.
const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1,h2,h3{line-height:1.2}h2{border-top:2px solid #ccc;padding-top:1rem;margin-top:2.5rem}
table{border-collapse:collapse}th,td{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}
.msg{margin:.6rem 0}.who{font-weight:600}.msg time,.meta{color:#555;font-size:.85em}
.text{white-space:pre-wrap;overflow-wrap:anywhere}.note{border-left:3px solid #999;padding-left:.8rem;margin:.8rem 0}
.empty{color:#555;font-style:italic}`;

function row(name: string, value: string): string {
  return `<tr><th scope="row">${h(name)}</th><td>${value}</td></tr>`;
}

async function* htmlMessages(deps: ExportDeps, plan: ExportPlan, conversationId: string): AsyncGenerator<string> {
  let any = false;
  for await (const page of messagePages(deps.store, deps.keys, conversationId)) {
    any = true;
    yield page
      .map(
        (m) =>
          `<div class="msg"><span class="who">${h(label(speaker(plan, m.senderId, m.senderRole)))}</span> ` +
          `${when(m.ts)} <span class="meta">#${m.seq}</span><div class="text">${h(m.text)}</div></div>`,
      )
      .join('\n');
  }
  if (!any) yield '<p class="empty">No messages.</p>';
}

/** What the patient calls each conversation of a case, for saying what a correction disputes. */
function conversationNames(c: ExportCase): Map<string, string> {
  const names = new Map<string, string>();
  if (c.threadId !== undefined) names.set(c.threadId, 'the messages between sessions');
  for (const a of c.appointments) names.set(a.conversationId, `the appointment of ${when(a.scheduledAt)}`);
  return names;
}

function htmlNote(deps: ExportDeps, plan: ExportPlan, names: ReadonlyMap<string, string>, n: NoteRow): string {
  const d = n.kind === 'correction' ? disputed(n) : null;
  const where = (conv: string) => names.get(conv) ?? `conversation ${h(conv)}`;
  const about =
    d === null
      ? ''
      : 'noteId' in d
        ? `, disputing note ${h(d.noteId)}`
        : `, disputing ${d.seq === null ? '' : `message #${d.seq} of `}${where(d.conversationId)}`;
  const title = n.kind === 'correction' ? 'Correction' : n.kind === 'therapist' ? 'Therapist note' : n.kind;
  const by = speaker(plan, n.author_id, n.author_role);
  return (
    `<div class="note" id="${h(n.id)}"><div><span class="who">${h(title)}</span> by ${by === 'you' ? 'you' : `your ${h(by)}`}` +
    `${about} — written ${when(n.created_at)}</div><div class="text">${h(openNote(deps.keys, n))}</div></div>`
  );
}

async function* htmlCase(deps: ExportDeps, plan: ExportPlan, c: ExportCase): AsyncGenerator<string> {
  const r = c.row;
  yield (
    `<section><h2>Case ${h(r.id)}</h2><table>` +
    row('Status', h(r.status)) +
    row('Opened', when(r.opened_at)) +
    row('Discharged', when(r.discharged_at)) +
    (r.previous_case_id ? row('Referred again from', h(r.previous_case_id)) : '') +
    (r.restricted_at !== null ? row('Processing restricted at your request', when(r.restricted_at)) : '') +
    '</table>'
  );
  if (!c.readable) {
    yield `<p>The records of this case were destroyed at the end of the retention period (${when(r.shredded_at)}).</p></section>`;
    return;
  }
  yield '<h3>Messages between sessions</h3>';
  if (c.threadId !== undefined) yield* htmlMessages(deps, plan, c.threadId);
  else yield '<p class="empty">No messages.</p>';
  for (const a of c.appointments) {
    yield `<h3>Appointment of ${when(a.scheduledAt)} (${h(a.status)})</h3>`;
    yield* htmlMessages(deps, plan, a.conversationId);
  }
  const notes = await notesOf(deps.store.kysely, r.id);
  const names = conversationNames(c);
  yield '<h3>Notes</h3>';
  yield notes.length ? notes.map((n) => htmlNote(deps, plan, names, n)).join('\n') : '<p class="empty">No notes.</p>';
  yield '</section>';
}

const IDENTITY_LABELS: Record<string, string> = {
  name: 'Name',
  dateOfBirth: 'Date of birth',
  email: 'Email',
  phone: 'Phone',
  nhsNumber: 'NHS number',
  gp: 'GP practice',
};

/** The record as one self-contained HTML document: no scripts, nothing external, every value escaped. */
export async function* exportHtml(deps: ExportDeps, plan: ExportPlan): AsyncGenerator<string> {
  yield (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>Your therapy record, exported ${h(iso(plan.exportedAt))}</title><style>${STYLE}</style></head><body>` +
    `<h1>Your therapy record</h1><p class="meta">Exported ${when(plan.exportedAt)}. ` +
    `The same record in a machine-readable form: <code>?format=json</code> (${h(EXPORT_FORMAT)}).</p>`
  );
  yield '<section><h2>About you</h2><table>' + row('Account', h(plan.patientId));
  if (plan.login) yield row('Login', h(plan.login));
  if (plan.identity) {
    for (const [k, v] of Object.entries(plan.identity)) {
      if (typeof v === 'string') yield row(IDENTITY_LABELS[k] ?? k, h(v));
    }
  }
  if (plan.identityErasedAt !== null) yield row('Identity erased at your request', when(plan.identityErasedAt));
  yield '</table></section>';
  if (plan.cases.length === 0) yield '<p class="empty">You have no cases.</p>';
  for (const c of plan.cases) yield* htmlCase(deps, plan, c);
  yield '<section><h2>Your requests</h2>';
  yield plan.requests.length
    ? '<table><tr><th>Requested</th><th>Kind</th><th>Scope</th><th>Case</th><th>Status</th><th>Outcome</th></tr>' +
      plan.requests
        .map(
          (r) =>
            `<tr><td>${when(r.created_at)}</td><td>${h(r.kind)}</td><td>${h(r.scope)}</td>` +
            `<td>${h(r.case_id ?? '—')}</td><td>${h(r.status)}</td><td>${h(r.outcome ?? '—')}</td></tr>`,
        )
        .join('') +
      '</table>'
    : '<p class="empty">No requests.</p>';
  yield '</section></body></html>\n';
}
