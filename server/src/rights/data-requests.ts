/**
 * Erasure and restriction requests (DESIGN §2), recorded in `data_requests` and honoured at once where the law and
 * the care allow:
 *
 * | kind        | scope    | what happens                                                                        |
 * |-------------|----------|-------------------------------------------------------------------------------------|
 * | erasure     | identity | identity erased (its key destroyed) — unless the patient has an active case: then   |
 * |             |          | it is recorded and carried out when no case of theirs is active any more            |
 * | erasure     | clinical | health records are exempt from erasure: the case is restricted until retention ends |
 * | restriction | clinical | the case is restricted: only the patient (and break-glass) can read it              |
 * | restriction | identity | recorded for the service to review (nothing processes identity automatically)       |
 *
 * Why identity waits for discharge: while a case is active the service must be able to reach the patient and their
 * GP (appointments, a risk alert). `honourDeferredErasures` carries the deferred ones out: the admin's discharge
 * calls it, and so do the patient's own requests endpoints, so a deferred erasure never waits on anyone.
 *
 * The `outcome` codes are stable and listed in docs/api.md.
 */
import type { Kysely } from 'kysely';
import { eraseIdentity } from '../accounts/identity.js';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';
import { hasActiveCase, type DataRequestRow } from './record-queries.js';
import { isoOrNull, iso } from './transcript-pages.js';

export const REQUEST_KINDS = ['erasure', 'restriction'] as const;
export const REQUEST_SCOPES = ['identity', 'clinical'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type RequestScope = (typeof REQUEST_SCOPES)[number];

export const OUTCOMES = {
  identityErased: 'identity-erased',
  identityDeferred: 'identity-kept-while-a-case-is-active-erased-at-discharge',
  identityRestriction: 'identity-restriction-recorded-for-review',
  clinicalErasure: 'clinical-records-exempt-restricted-until-retention-ends',
  clinicalRestriction: 'clinical-processing-restricted',
} as const;

export interface FiledRequest {
  readonly row: DataRequestRow;
  /** The case whose processing is now restricted (call `accessChanged` for it), if one is. */
  readonly restrictedCaseId: string | null;
}

/**
 * Records a request and honours it as the table above says. For the clinical scope the caller has decided
 * `record.request` on the case.
 */
export async function fileDataRequest(
  db: Kysely<Database>,
  userId: string,
  request: { kind: RequestKind; scope: RequestScope; caseId: string | null },
  now: number,
): Promise<FiledRequest> {
  const base = { id: newId('dr'), user_id: userId, case_id: request.caseId, kind: request.kind, scope: request.scope };
  if (request.scope === 'clinical') {
    const caseId = request.caseId!;
    const row: DataRequestRow = {
      ...base,
      status: request.kind === 'erasure' ? 'restricted' : 'honoured',
      outcome: request.kind === 'erasure' ? OUTCOMES.clinicalErasure : OUTCOMES.clinicalRestriction,
      created_at: now,
      resolved_at: now,
    };
    await db.transaction().execute(async (trx) => {
      // A case restricted earlier keeps its first restriction time.
      await trx
        .updateTable('cases')
        .set({ restricted_at: now })
        .where('id', '=', caseId)
        .where('restricted_at', 'is', null)
        .execute();
      await trx.insertInto('data_requests').values(row).execute();
    });
    return { row, restrictedCaseId: caseId };
  }
  if (request.kind === 'restriction') {
    const row: DataRequestRow = {
      ...base,
      status: 'recorded',
      outcome: OUTCOMES.identityRestriction,
      created_at: now,
      resolved_at: null,
    };
    await db.insertInto('data_requests').values(row).execute();
    return { row, restrictedCaseId: null };
  }
  const deferred = await hasActiveCase(db, userId);
  const row: DataRequestRow = {
    ...base,
    status: deferred ? 'recorded' : 'honoured',
    outcome: deferred ? OUTCOMES.identityDeferred : OUTCOMES.identityErased,
    created_at: now,
    resolved_at: deferred ? null : now,
  };
  // Erase first: a failure between the two leaves the identity erased and the request unrecorded (asking again is
  // harmless), never a request marked honoured over an identity still readable.
  if (!deferred) await eraseIdentity(db, userId, now);
  await db.insertInto('data_requests').values(row).execute();
  return { row, restrictedCaseId: null };
}

/**
 * Carries out the user's identity erasures that waited for their cases to end, once none is active. Returns the
 * requests it honoured (none while a case is active, or when nothing waits).
 */
export async function honourDeferredErasures(
  db: Kysely<Database>,
  userId: string,
  now: number,
): Promise<DataRequestRow[]> {
  const waiting = await db
    .selectFrom('data_requests')
    .selectAll()
    .where('user_id', '=', userId)
    .where('kind', '=', 'erasure')
    .where('scope', '=', 'identity')
    .where('status', '=', 'recorded')
    .execute();
  if (waiting.length === 0 || (await hasActiveCase(db, userId))) return [];
  await eraseIdentity(db, userId, now);
  await db
    .updateTable('data_requests')
    .set({ status: 'honoured', outcome: OUTCOMES.identityErased, resolved_at: now })
    .where(
      'id',
      'in',
      waiting.map((w) => w.id),
    )
    .execute();
  return waiting.map((w) => ({ ...w, status: 'honoured', outcome: OUTCOMES.identityErased, resolved_at: now }));
}

/** A request as the API shows it. */
export function requestView(r: DataRequestRow) {
  return {
    id: r.id,
    kind: r.kind,
    scope: r.scope,
    caseRef: r.case_id,
    status: r.status,
    outcome: r.outcome,
    requestedAt: iso(r.created_at),
    resolvedAt: isoOrNull(r.resolved_at),
  };
}
