/**
 * Break-glass grants (DESIGN §2): an admin may open a case's records only with a written reason, for a limited time.
 * The reason is kept on the grant (it is shown to the patient in their access report), never in the audit log, whose
 * events point at the grant instead. Whether a grant is current is decided by the access policy
 * (`record.break-glass-read`), from the row as stored.
 */
import type { Kysely } from 'kysely';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';
import { CaseError } from './case-error.js';

/** Shortest written reason accepted, in characters after trimming: a sentence, not a word. */
export const BREAK_GLASS_REASON_MIN = 20;
/** Longest written reason accepted, in characters. */
export const BREAK_GLASS_REASON_MAX = 2000;

export interface BreakGlassGrant {
  readonly grantId: string;
  readonly caseId: string;
  readonly adminId: string;
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
}

export async function createGrant(
  db: Kysely<Database>,
  input: { readonly caseId: string; readonly adminId: string; readonly reason: string; readonly minutes: number },
  now: number,
): Promise<BreakGlassGrant> {
  const reason = input.reason.trim();
  if (reason.length < BREAK_GLASS_REASON_MIN) {
    throw new CaseError(
      'VALIDATION_FAILED',
      `reason: write why the records must be opened (at least ${BREAK_GLASS_REASON_MIN} characters)`,
    );
  }
  // Control characters would hide or garble the reason where it is shown to the patient; tabs and line breaks may stay.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(reason)) {
    throw new CaseError('VALIDATION_FAILED', 'reason: control characters are not allowed');
  }
  const row = await db.selectFrom('cases').select(['shredded_at']).where('id', '=', input.caseId).executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no case ${input.caseId}`);
  if (row.shredded_at !== null) {
    throw new CaseError('CONFLICT', `the records of case ${input.caseId} were destroyed at the end of retention`);
  }
  const grant: BreakGlassGrant = {
    grantId: newId('bg'),
    caseId: input.caseId,
    adminId: input.adminId,
    grantedAt: now,
    expiresAt: now + input.minutes * 60_000,
    revokedAt: null,
  };
  await db
    .insertInto('break_glass_grants')
    .values({
      id: grant.grantId,
      case_id: grant.caseId,
      admin_id: grant.adminId,
      reason,
      granted_at: grant.grantedAt,
      expires_at: grant.expiresAt,
      revoked_at: null,
    })
    .execute();
  return grant;
}

export async function getGrant(db: Kysely<Database>, grantId: string): Promise<BreakGlassGrant> {
  const row = await db
    .selectFrom('break_glass_grants')
    .select(['id', 'case_id', 'admin_id', 'granted_at', 'expires_at', 'revoked_at'])
    .where('id', '=', grantId)
    .executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no break-glass grant ${grantId}`);
  return {
    grantId: row.id,
    caseId: row.case_id,
    adminId: row.admin_id,
    grantedAt: row.granted_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** Ends a grant before its time. Refuses (CONFLICT) one already revoked or expired. */
export async function revokeGrant(db: Kysely<Database>, grantId: string, now: number): Promise<BreakGlassGrant> {
  const result = await db
    .updateTable('break_glass_grants')
    .set({ revoked_at: now })
    .where('id', '=', grantId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  const grant = await getGrant(db, grantId);
  if (result.numUpdatedRows === 0n) {
    throw new CaseError(
      'CONFLICT',
      grant.revokedAt !== null ? `grant ${grantId} is already revoked` : `grant ${grantId} has already expired`,
    );
  }
  return grant;
}
