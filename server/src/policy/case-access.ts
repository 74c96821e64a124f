/** Loads what the access policy needs to know about a case, in a few indexed queries. */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { CaseStatus } from '../store/store.js';
import type { CaseAccess } from './access-policy.js';

/** Re-referral chains longer than this are not followed (a guard against a cycle written by hand into the data). */
const MAX_REFERRAL_DEPTH = 32;

export async function loadCaseAccess(db: Kysely<Database>, caseId: string): Promise<CaseAccess | undefined> {
  const row = await db.selectFrom('cases').selectAll().where('id', '=', caseId).executeTakeFirst();
  if (!row) return undefined;
  const successors: { therapistId: string; status: CaseStatus; dischargedAt: number | null }[] = [];
  const seen = new Set([caseId]);
  let frontier = [caseId];
  for (let depth = 0; depth < MAX_REFERRAL_DEPTH && frontier.length > 0; depth++) {
    const later = await db
      .selectFrom('cases')
      .select(['id', 'therapist_id', 'status', 'discharged_at'])
      .where('previous_case_id', 'in', frontier)
      // A re-referral is of the same patient: a link to another patient's case (bad data) opens nothing.
      .where('patient_id', '=', row.patient_id)
      .execute();
    frontier = [];
    for (const c of later) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      frontier.push(c.id);
      successors.push({ therapistId: c.therapist_id, status: c.status as CaseStatus, dischargedAt: c.discharged_at });
    }
  }
  const grants = await db
    .selectFrom('break_glass_grants')
    .select(['admin_id', 'expires_at', 'revoked_at'])
    .where('case_id', '=', caseId)
    .execute();
  return {
    caseId: row.id,
    status: row.status as CaseStatus,
    dischargedAt: row.discharged_at,
    patientId: row.patient_id,
    therapistId: row.therapist_id,
    supervisorId: row.supervisor_id,
    restrictedAt: row.restricted_at,
    shreddedAt: row.shredded_at,
    successors,
    breakGlass: grants.map((g) => ({ adminId: g.admin_id, expiresAt: g.expires_at, revokedAt: g.revoked_at })),
  };
}
