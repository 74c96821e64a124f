/**
 * The appointment lifecycle in the store: scheduled → waiting → live → ended (`cancelled` is set by admins). Each
 * transition is one conditional UPDATE (`… WHERE status IN (…)`), so two consoles admitting at once make one change,
 * and the loser learns the status that won. Statuses only move forward, so a later one always wins over an earlier
 * one (`laterStatus`), whatever order nodes hear of them in.
 *
 * Ending must not slip between a message's status check and its commit: the append transaction locks the
 * conversation row and then reads the appointment's status (see `conversationAcceptsMessages`). On PostgreSQL the
 * transition therefore takes the same row lock first, so an append either commits before the end or sees it. SQLite
 * runs one write at a time, and the transition is a single statement there.
 */
import { type Kysely, PostgresAdapter } from 'kysely';
import type { Database } from '../store/schema.js';
import type { AppointmentStatus, ConversationInfo } from '../store/store.js';

export type AppointmentTransition = 'wait' | 'admit' | 'end';

/** Where each transition may start from, and where it leads. */
export const TRANSITIONS: Readonly<
  Record<AppointmentTransition, { readonly from: readonly AppointmentStatus[]; readonly to: AppointmentStatus }>
> = {
  /** The patient joined the transcript: they are in the waiting room. */
  wait: { from: ['scheduled'], to: 'waiting' },
  /** The therapist admits the patient (or opens the session before the patient arrives). */
  admit: { from: ['scheduled', 'waiting'], to: 'live' },
  /** The therapist ends the session: the transcript is closed for good. */
  end: { from: ['live'], to: 'ended' },
};

const RANK: Readonly<Record<AppointmentStatus, number>> = {
  scheduled: 0,
  waiting: 1,
  live: 2,
  ended: 3,
  cancelled: 3,
};

/** The later of two statuses (statuses only move forward; `ended` and `cancelled` are both final). */
export function laterStatus(a: AppointmentStatus, b: AppointmentStatus): AppointmentStatus {
  return RANK[b] > RANK[a] ? b : a;
}

/** A conversation's cached info, with its appointment status moved forward to `status` if that is later. */
export function withAppointmentStatus(info: ConversationInfo, status: AppointmentStatus): ConversationInfo {
  if (info.kind !== 'appointment' || info.appointmentStatus === null) return info;
  const next = laterStatus(info.appointmentStatus, status);
  return next === info.appointmentStatus ? info : { ...info, appointmentStatus: next };
}

export interface AppointmentRecord {
  readonly id: string;
  readonly caseId: string;
  readonly conversationId: string;
  readonly status: AppointmentStatus;
  readonly scheduledAt: number;
  /** When it went live, and when it ended, if it did. */
  readonly startedAt: number | null;
  readonly endedAt: number | null;
}

export type TransitionResult =
  /** This call moved the appointment to the transition's target status, at `at`. */
  | { readonly kind: 'changed'; readonly appointment: AppointmentRecord }
  /** It already was in the target status (a concurrent or repeated request): nothing changed. */
  | { readonly kind: 'unchanged'; readonly appointment: AppointmentRecord }
  /** Its status does not allow the transition. */
  | { readonly kind: 'refused'; readonly appointment: AppointmentRecord }
  | { readonly kind: 'not-found' };

type Row = Pick<
  Database['appointments'],
  'id' | 'case_id' | 'conversation_id' | 'status' | 'scheduled_at' | 'started_at' | 'ended_at'
>;
const COLUMNS = ['id', 'case_id', 'conversation_id', 'status', 'scheduled_at', 'started_at', 'ended_at'] as const;

function toRecord(r: Row): AppointmentRecord {
  return {
    id: r.id,
    caseId: r.case_id,
    conversationId: r.conversation_id,
    status: r.status as AppointmentStatus,
    // bigint columns may come back as strings from pg
    scheduledAt: Number(r.scheduled_at),
    startedAt: r.started_at === null ? null : Number(r.started_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
  };
}

/** The appointment whose transcript is `conversationId`. */
export async function appointmentOfConversation(
  db: Kysely<Database>,
  conversationId: string,
): Promise<AppointmentRecord | undefined> {
  const row = await db
    .selectFrom('appointments')
    .select(COLUMNS)
    .where('conversation_id', '=', conversationId)
    .executeTakeFirst();
  return row && toRecord(row);
}

/** When the appointment took its current status, where the store knows it. */
export function statusSince(a: AppointmentRecord): number | null {
  if (a.status === 'live') return a.startedAt;
  if (a.status === 'ended') return a.endedAt;
  return null;
}

/** Moves the appointment of transcript `conversationId` through `transition`, atomically. */
export async function transitionAppointment(
  db: Kysely<Database>,
  conversationId: string,
  transition: AppointmentTransition,
  at: number,
): Promise<TransitionResult> {
  const { from, to } = TRANSITIONS[transition];
  const patch =
    to === 'live' ? { status: to, started_at: at } : to === 'ended' ? { status: to, ended_at: at } : { status: to };
  const update = (trx: Kysely<Database>) =>
    trx
      .updateTable('appointments')
      .set(patch)
      .where('conversation_id', '=', conversationId)
      .where('status', 'in', [...from])
      .returning(COLUMNS)
      .executeTakeFirst();
  let changed: Row | undefined;
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    changed = await db.transaction().execute(async (trx) => {
      // The lock every append takes (see the module comment): a message commits before the change, or sees it.
      await trx
        .updateTable('conversations')
        .set((eb) => ({ last_seq: eb.ref('last_seq') }))
        .where('id', '=', conversationId)
        .execute();
      return update(trx);
    });
  } else {
    changed = await update(db);
  }
  if (changed) return { kind: 'changed', appointment: toRecord(changed) };
  const current = await appointmentOfConversation(db, conversationId);
  if (!current) return { kind: 'not-found' };
  return current.status === to
    ? { kind: 'unchanged', appointment: current }
    : { kind: 'refused', appointment: current };
}
