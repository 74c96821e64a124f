/**
 * The caller's own list of cases: a patient's cases, and a therapist's assigned cases they may still read (active,
 * or discharged less than 6 weeks ago) plus the earlier cases of re-referred patients they may read. Each case is
 * decided by the access policy, so the list never shows a case its reader could not open. Only references, statuses,
 * conversation ids and times: nothing of other people, no identity fields.
 */
import type { Kysely } from 'kysely';
import type { Actor } from '../policy/access-policy.js';
import { decide } from '../policy/access-policy.js';
import { loadCaseAccess } from '../policy/case-access.js';
import type { Database } from '../store/schema.js';
import type { AppointmentStatus, CaseStatus } from '../store/store.js';

export interface MyCase {
  /** The case reference, e.g. `C-7K3M-92QD`. */
  readonly caseId: string;
  readonly status: CaseStatus;
  readonly dischargedAt: number | null;
  /** How the caller relates to it: their own case (patient), assigned (therapist), or an earlier case of a re-referral. */
  readonly relation: 'own' | 'assigned' | 'earlier-case';
  /** The inter-session message thread. */
  readonly threadId: string | null;
  readonly appointments: readonly {
    readonly appointmentId: string;
    readonly conversationId: string;
    readonly status: AppointmentStatus;
    readonly scheduledAt: number;
  }[];
}

/** Re-referral chains longer than this are not followed (as in `case-access.ts`). */
const MAX_REFERRAL_DEPTH = 32;

export async function casesOf(db: Kysely<Database>, actor: Actor, now: number): Promise<MyCase[]> {
  const relation = new Map<string, MyCase['relation']>();
  if (actor.role === 'patient') {
    const own = await db.selectFrom('cases').select('id').where('patient_id', '=', actor.userId).execute();
    for (const c of own) relation.set(c.id, 'own');
  } else if (actor.role === 'therapist') {
    const assigned = await db
      .selectFrom('cases')
      .select(['id', 'previous_case_id'])
      .where('therapist_id', '=', actor.userId)
      .execute();
    for (const c of assigned) relation.set(c.id, 'assigned');
    let frontier = assigned.map((c) => c.previous_case_id).filter((id): id is string => id !== null);
    for (let depth = 0; depth < MAX_REFERRAL_DEPTH && frontier.length > 0; depth++) {
      const earlier = await db
        .selectFrom('cases')
        .select(['id', 'previous_case_id'])
        .where('id', 'in', frontier)
        .execute();
      frontier = [];
      for (const c of earlier) {
        if (relation.has(c.id)) continue;
        relation.set(c.id, 'earlier-case');
        if (c.previous_case_id !== null) frontier.push(c.previous_case_id);
      }
    }
  } else {
    return [];
  }
  const out: MyCase[] = [];
  for (const [caseId, rel] of relation) {
    const access = await loadCaseAccess(db, caseId);
    if (!access || !decide(actor, 'conversation.read', { case: access }, now).allow) continue;
    const convs = await db
      .selectFrom('conversations')
      .select('id')
      .where('case_id', '=', caseId)
      .where('kind', '=', 'thread')
      .execute();
    const appointments = await db
      .selectFrom('appointments')
      .select(['id', 'conversation_id', 'status', 'scheduled_at'])
      .where('case_id', '=', caseId)
      .orderBy('scheduled_at')
      .orderBy('id')
      .execute();
    out.push({
      caseId,
      status: access.status,
      dischargedAt: access.dischargedAt === null ? null : Number(access.dischargedAt),
      relation: rel,
      threadId: convs[0]?.id ?? null,
      appointments: appointments.map((a) => ({
        appointmentId: a.id,
        conversationId: a.conversation_id,
        status: a.status as AppointmentStatus,
        scheduledAt: Number(a.scheduled_at),
      })),
    });
  }
  return out.sort((a, b) => a.caseId.localeCompare(b.caseId));
}
