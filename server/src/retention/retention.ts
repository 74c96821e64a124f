/**
 * Retention (DESIGN §2): clinical records are kept 20 years after discharge, then destroyed by destroying their keys
 * (crypto-shredding); an account that never became a case is removed after 6 years.
 *
 * - A case is due when it was discharged more than 20 calendar years ago (UTC; see `yearsBefore`). Its data keys
 *   (`data_keys`) are deleted and `cases.shredded_at` set, in one transaction. The ciphertexts of its messages and
 *   notes stay where they are, but nothing can decrypt them any more: the only copies of the keys were those rows
 *   (wrapped by the KEK), and this node's in-memory copies are dropped too (`DataKeyRing.forget`). The access policy
 *   refuses everything on a shredded case. A clinical erasure request the patient made, restricted until now, is marked
 *   honoured.
 * - A patient account is due when it was created more than 6 calendar years ago and no case names it as the patient.
 *   Its identity is erased (`eraseIdentity`: the per-user key and the sealed identity go), its login name, password
 *   hash and external subject are cleared, its login sessions revoked, and it is marked `removed` (and disabled). The
 *   row stays, because audit events and other rows refer to its id. Staff accounts (therapist, supervisor, admin) are
 *   not removed by this rule: they are managed by the service's admins, and their ids are referred to by the records
 *   they wrote.
 *
 * Every shred and removal is audited (`retention.shred`, actor `system`). A run does at most `batchSize` cases and
 * `batchSize` accounts (bounded transactions and memory) and says whether more are due. It is idempotent and safe to run
 * on several nodes at once: each change is a conditional UPDATE, and only the run whose UPDATE matched goes on to
 * delete keys and audit.
 *
 * No key provider is needed: a data key exists only wrapped, in its row, so deleting the row destroys it. (With a
 * KMS the same holds: the KMS holds the KEK, never the data keys.)
 */
import { sql, type ExpressionBuilder, type Kysely } from 'kysely';
import { eraseIdentity } from '../accounts/identity.js';
import type { AuditEventInput } from '../audit/audit-sink.js';
import type { Database } from '../store/schema.js';

export const CLINICAL_RETENTION_YEARS = 20;
export const NO_CASE_ACCOUNT_RETENTION_YEARS = 6;
/** Cases and accounts handled per run, each. */
export const DEFAULT_RETENTION_BATCH = 100;

export const RETENTION_REASONS = {
  case: 'retention-20y-after-discharge',
  account: 'retention-6y-no-case',
} as const;

/** The `users.status` of an account removed by retention. */
export const REMOVED_STATUS = 'removed';

export interface RetentionDeps {
  readonly db: Kysely<Database>;
  /** Where each shred is recorded: an `AuditWriter`. */
  readonly audit: { recordAndWait(event: AuditEventInput): Promise<void> };
  readonly now: () => number;
  /** This node's key ring: the shredded keys are dropped from memory too. */
  readonly keyRing?: { forget(caseId: string): void };
  /** This node's chat service: live subscriptions to a shredded case end; a removed user's sockets close. */
  readonly chat?: {
    accessChanged(caseId: string): void;
    userRevoked(userId: string, reason: 'disabled' | 'logged-out'): void;
  };
}

export interface RetentionOptions {
  /** Count what is due without changing anything. */
  readonly dryRun?: boolean;
  /** Default `DEFAULT_RETENTION_BATCH`. */
  readonly batchSize?: number;
}

export interface RetentionReport {
  readonly dryRun: boolean;
  /** Cases shredded by this run; in a dry run, cases due (all of them, not only one batch). */
  readonly cases: number;
  /** Accounts removed by this run; in a dry run, accounts due. */
  readonly accounts: number;
  /** More were due than one batch: run again. Always false in a dry run. */
  readonly more: boolean;
}

/**
 * The instant `years` calendar years before `now`, in UTC: the same date and time of day, `years` earlier. When that
 * date does not exist (29 February in a year without one) it is the last day of that month, 28 February.
 */
export function yearsBefore(now: number, years: number): number {
  const d = new Date(now);
  const year = d.getUTCFullYear() - years;
  const month = d.getUTCMonth();
  const out = new Date(0);
  out.setUTCFullYear(year, month + 1, 0); // the last day of the month
  const day = Math.min(d.getUTCDate(), out.getUTCDate());
  out.setUTCFullYear(year, month, day);
  out.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return out.getTime();
}

/** Runs one bounded batch of retention: see the file comment. */
export async function runRetention(deps: RetentionDeps, options: RetentionOptions = {}): Promise<RetentionReport> {
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_RETENTION_BATCH);
  const now = deps.now();
  const caseCutoff = yearsBefore(now, CLINICAL_RETENTION_YEARS);
  const accountCutoff = yearsBefore(now, NO_CASE_ACCOUNT_RETENTION_YEARS);
  const { db } = deps;

  if (options.dryRun) {
    const cases = await dueCases(db, caseCutoff)
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    const accounts = await dueAccounts(db, accountCutoff)
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return { dryRun: true, cases: Number(cases.n), accounts: Number(accounts.n), more: false };
  }

  const caseRows = await dueCases(db, caseCutoff)
    .select('cases.id')
    .orderBy('cases.discharged_at')
    .orderBy('cases.id')
    .limit(batchSize)
    .execute();
  let cases = 0;
  for (const { id } of caseRows) {
    if (!(await shredCase(db, id, caseCutoff, now))) continue;
    cases++;
    deps.keyRing?.forget(id);
    deps.chat?.accessChanged(id);
    await deps.audit.recordAndWait({
      actor: 'system',
      action: 'retention.shred',
      resource: { type: 'case', id },
      outcome: 'granted',
      reason: RETENTION_REASONS.case,
      time: now,
    });
  }

  const accountRows = await dueAccounts(db, accountCutoff)
    .select(['users.id', 'users.status'])
    .orderBy('users.created_at')
    .orderBy('users.id')
    .limit(batchSize)
    .execute();
  let accounts = 0;
  for (const { id, status } of accountRows) {
    const claimed = await removeAccount(db, id, accountCutoff, now);
    // A run that stopped between marking and erasing left the identity: erase it now (erasing is idempotent).
    if (claimed || status === REMOVED_STATUS) await eraseIdentity(db, id, now);
    if (!claimed) continue;
    accounts++;
    deps.chat?.userRevoked(id, 'disabled');
    await deps.audit.recordAndWait({
      actor: 'system',
      action: 'retention.shred',
      resource: { type: 'user', id },
      outcome: 'granted',
      reason: RETENTION_REASONS.account,
      time: now,
    });
  }
  return {
    dryRun: false,
    cases,
    accounts,
    more: caseRows.length === batchSize || accountRows.length === batchSize,
  };
}

/** No case names the user as its patient. */
const noCaseAsPatient = (eb: ExpressionBuilder<Database, 'users'>) =>
  eb.not(eb.exists(eb.selectFrom('cases').select('cases.id').whereRef('cases.patient_id', '=', 'users.id')));

function dueCases(db: Kysely<Database>, cutoff: number) {
  return db
    .selectFrom('cases')
    .where('cases.status', '=', 'discharged')
    .where('cases.discharged_at', '<', cutoff)
    .where('cases.shredded_at', 'is', null);
}

/** Patient accounts older than the cutoff that no case names, not yet removed (or removed but not yet erased). */
function dueAccounts(db: Kysely<Database>, cutoff: number) {
  return db
    .selectFrom('users')
    .where('users.role', '=', 'patient')
    .where('users.created_at', '<', cutoff)
    .where((eb) => eb.or([eb('users.status', '<>', REMOVED_STATUS), eb('users.identity_erased_at', 'is', null)]))
    .where(noCaseAsPatient);
}

/** Destroys a case's keys; false when another run got there first, or the case no longer qualifies. */
async function shredCase(db: Kysely<Database>, caseId: string, cutoff: number, now: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('cases')
      .set({ shredded_at: now })
      .where('id', '=', caseId)
      .where('status', '=', 'discharged')
      .where('discharged_at', '<', cutoff)
      .where('shredded_at', 'is', null)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await trx.deleteFrom('data_keys').where('case_id', '=', caseId).execute();
    // "Restricted until retention ends" (DESIGN §2): it has ended, and the records are destroyed.
    await trx
      .updateTable('data_requests')
      .set({ status: 'honoured', outcome: 'destroyed-at-retention-end', resolved_at: now })
      .where('case_id', '=', caseId)
      .where('kind', '=', 'erasure')
      .where('scope', '=', 'clinical')
      .where('status', '=', 'restricted')
      .execute();
    return true;
  });
}

/** Marks an account removed and takes away every way to log in; false when it no longer qualifies or is done. */
async function removeAccount(db: Kysely<Database>, userId: string, cutoff: number, now: number): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const res = await trx
      .updateTable('users')
      .set({
        status: REMOVED_STATUS,
        disabled_at: sql<number>`coalesce(disabled_at, ${now})`,
        login: null,
        password_hash: null,
        external_subject: null,
      })
      .where('id', '=', userId)
      .where('role', '=', 'patient')
      .where('created_at', '<', cutoff)
      .where('status', '<>', REMOVED_STATUS)
      .where(noCaseAsPatient)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await trx
      .updateTable('auth_sessions')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    return true;
  });
}
