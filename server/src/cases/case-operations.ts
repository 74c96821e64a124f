/**
 * What clinical operations does to cases: contracts, opening a case (with its age rules and re-referral link),
 * reassignment, discharge, and scheduling and cancelling appointments. Cold queries through the store's Kysely, so
 * they run on SQLite and PostgreSQL alike. State changes are conditional UPDATEs (`… WHERE status = …`): two admins
 * acting at once, or an admin racing the appointment lifecycle, cannot both win.
 *
 * Nothing here returns clinical content: ids, references, statuses and times only.
 */
import type { Role } from '@therapy-chat/protocol';
import type { Kysely } from 'kysely';
import { readIdentity } from '../accounts/identity.js';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { openCase } from '../domain/care-setup.js';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';
import type { AppointmentStatus, CaseStatus, Store } from '../store/store.js';
import { decideAgeRule } from './age-rule.js';
import { CaseError } from './case-error.js';
import { appointmentsOf, threadOf } from '../store/case-queries.js';

/** The contract every case falls under unless another is named (minimum age 18; created by the migrations). */
export const DEFAULT_CONTRACT_ID = 'default';

export interface Contract {
  readonly contractId: string;
  readonly name: string;
  readonly minAge: number;
  readonly createdAt: number;
}

export async function createContract(
  db: Kysely<Database>,
  input: { readonly name: string; readonly minAge: number },
  now: number,
): Promise<Contract> {
  const contractId = newId('ct');
  await db
    .insertInto('contracts')
    .values({ id: contractId, name: input.name, min_age: input.minAge, created_at: now })
    .execute();
  return { contractId, name: input.name, minAge: input.minAge, createdAt: now };
}

export async function listContracts(db: Kysely<Database>): Promise<Contract[]> {
  const rows = await db.selectFrom('contracts').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map((r) => ({ contractId: r.id, name: r.name, minAge: r.min_age, createdAt: r.created_at }));
}

/** Refuses unless `userId` names an active account of `role`; `field` names the request field, for the message. */
async function requireUser(db: Kysely<Database>, userId: string, role: Role, field: string): Promise<void> {
  const row = await db.selectFrom('users').select(['role', 'status']).where('id', '=', userId).executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `${field}: no user ${userId}`);
  if (row.role !== role) {
    throw new CaseError('VALIDATION_FAILED', `${field}: user ${userId} is a ${row.role}, not a ${role}`);
  }
  if (row.status !== 'active') throw new CaseError('CONFLICT', `${field}: the account ${userId} is ${row.status}`);
}

export interface OpenCaseInput {
  readonly patientId: string;
  readonly therapistId: string;
  readonly supervisorId: string;
  readonly contractId?: string;
  readonly previousCaseId?: string;
  readonly referralVerified?: boolean;
  readonly guardianConsent?: boolean;
}

export interface OpenCaseDeps {
  readonly store: Store;
  readonly keys: DataKeyRing;
  /** The KEK provider, to read the patient's sealed date of birth. */
  readonly keyProvider: KeyProvider;
}

/**
 * Opens a case after checking the people named (roles, active), the contract, the re-referral link (an earlier,
 * discharged case of the same patient) and the contract's age rules on today's (UTC) date. Under 16, the referral's
 * verification and the guardian's consent are recorded with the case at `now`.
 */
export async function openCheckedCase(
  deps: OpenCaseDeps,
  input: OpenCaseInput,
  now: number,
): Promise<{ caseId: string; threadId: string; status: CaseStatus }> {
  const db = deps.store.kysely;
  await requireUser(db, input.patientId, 'patient', 'patientId');
  await requireUser(db, input.therapistId, 'therapist', 'therapistId');
  await requireUser(db, input.supervisorId, 'supervisor', 'supervisorId');
  const contractId = input.contractId ?? DEFAULT_CONTRACT_ID;
  const contract = await db.selectFrom('contracts').select('min_age').where('id', '=', contractId).executeTakeFirst();
  if (!contract) throw new CaseError('NOT_FOUND', `contractId: no contract ${contractId}`);
  if (input.previousCaseId !== undefined) {
    const earlier = await db
      .selectFrom('cases')
      .select(['patient_id', 'status'])
      .where('id', '=', input.previousCaseId)
      .executeTakeFirst();
    if (!earlier) throw new CaseError('NOT_FOUND', `previousCaseId: no case ${input.previousCaseId}`);
    if (earlier.patient_id !== input.patientId) {
      throw new CaseError('VALIDATION_FAILED', `previousCaseId: case ${input.previousCaseId} is another patient's`);
    }
    if (earlier.status !== 'discharged') {
      throw new CaseError(
        'CONFLICT',
        `previousCaseId: case ${input.previousCaseId} is still active; discharge it before re-referring`,
      );
    }
  }
  const identity = await readIdentity({ db, provider: deps.keyProvider }, input.patientId);
  const age = decideAgeRule({
    dateOfBirth: identity === undefined || identity === 'erased' ? undefined : identity.dateOfBirth,
    minAge: contract.min_age,
    referralVerified: input.referralVerified === true,
    guardianConsent: input.guardianConsent === true,
    now,
  });
  if (!age.allow) throw new CaseError('AGE_RULE', age.message);
  const opened = await openCase(deps.store, deps.keys, {
    patientId: input.patientId,
    therapistId: input.therapistId,
    supervisorId: input.supervisorId,
    contractId,
    previousCaseId: input.previousCaseId ?? null,
    referralVerifiedAt: input.referralVerified === true ? now : null,
    guardianConsentAt: input.guardianConsent === true ? now : null,
  });
  // The store stamps the wall clock; the case opens at the same `now` its age rules were decided on.
  await db.updateTable('cases').set({ opened_at: now }).where('id', '=', opened.caseId).execute();
  return { ...opened, status: 'active' };
}

/**
 * Reassigns an active case's therapist and/or supervisor. The caller ends the old assignee's live access
 * (`ChatService.accessChanged`).
 */
export async function reassignCase(
  db: Kysely<Database>,
  caseId: string,
  input: { readonly therapistId?: string; readonly supervisorId?: string },
): Promise<void> {
  if (input.therapistId === undefined && input.supervisorId === undefined) {
    throw new CaseError('VALIDATION_FAILED', 'name a therapistId, a supervisorId, or both');
  }
  if (input.therapistId !== undefined) await requireUser(db, input.therapistId, 'therapist', 'therapistId');
  if (input.supervisorId !== undefined) await requireUser(db, input.supervisorId, 'supervisor', 'supervisorId');
  const result = await db
    .updateTable('cases')
    .set({
      ...(input.therapistId !== undefined && { therapist_id: input.therapistId }),
      ...(input.supervisorId !== undefined && { supervisor_id: input.supervisorId }),
    })
    .where('id', '=', caseId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) await refuseInactiveCase(db, caseId);
}

/** Throws NOT_FOUND when the case does not exist, CONFLICT when it is not active. */
async function refuseInactiveCase(db: Kysely<Database>, caseId: string): Promise<never> {
  const row = await db.selectFrom('cases').select('status').where('id', '=', caseId).executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no case ${caseId}`);
  throw new CaseError('CONFLICT', `case ${caseId} is ${row.status}`);
}

/** Appointment states that have not started: discharge and cancellation call them off. */
const NOT_STARTED: readonly AppointmentStatus[] = ['scheduled', 'waiting'];

/**
 * Discharges an active case at `now`. Appointments that have not started are cancelled, and a live one is ended (its
 * transcript closes). The case is updated first: an appointment scheduled concurrently re-checks the case after its
 * insert (`scheduleCaseAppointment`), so none is left open in a discharged case.
 */
export async function dischargeCase(
  db: Kysely<Database>,
  caseId: string,
  now: number,
): Promise<{ dischargedAt: number; cancelled: string[]; ended: string[] }> {
  const result = await db
    .updateTable('cases')
    .set({ status: 'discharged', discharged_at: now })
    .where('id', '=', caseId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) await refuseInactiveCase(db, caseId);
  const cancelled = await db
    .updateTable('appointments')
    .set({ status: 'cancelled' })
    .where('case_id', '=', caseId)
    .where('status', 'in', NOT_STARTED)
    .returning('id')
    .execute();
  const ended = await db
    .updateTable('appointments')
    .set({ status: 'ended', ended_at: now })
    .where('case_id', '=', caseId)
    .where('status', '=', 'live')
    .returning('id')
    .execute();
  return { dischargedAt: now, cancelled: cancelled.map((r) => r.id), ended: ended.map((r) => r.id) };
}

export interface AppointmentSummary {
  readonly appointmentId: string;
  readonly conversationId: string;
  readonly status: AppointmentStatus;
  readonly scheduledAt: number;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
}

export interface CaseSummary {
  readonly caseId: string;
  readonly threadId: string;
  readonly status: CaseStatus;
  readonly patientId: string;
  readonly therapistId: string;
  readonly supervisorId: string | null;
  readonly contractId: string;
  readonly previousCaseId: string | null;
  /** Cases re-referred from this one. */
  readonly laterCaseIds: readonly string[];
  readonly openedAt: number;
  readonly dischargedAt: number | null;
  readonly referralVerifiedAt: number | null;
  readonly guardianConsentAt: number | null;
  readonly restrictedAt: number | null;
  readonly shreddedAt: number | null;
  readonly appointments: readonly AppointmentSummary[];
}

/** A case as clinical operations sees it: who, what state, when — no messages, no notes. */
export async function getCaseSummary(db: Kysely<Database>, caseId: string): Promise<CaseSummary> {
  const row = await db.selectFrom('cases').selectAll().where('id', '=', caseId).executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no case ${caseId}`);
  const thread = await threadOf(db, caseId);
  const later = await db
    .selectFrom('cases')
    .select('id')
    .where('previous_case_id', '=', caseId)
    .orderBy('opened_at')
    .execute();
  const appointments = await appointmentsOf(db, caseId);
  return {
    caseId: row.id,
    threadId: thread ?? '',
    status: row.status as CaseStatus,
    patientId: row.patient_id,
    therapistId: row.therapist_id,
    supervisorId: row.supervisor_id,
    contractId: row.contract_id,
    previousCaseId: row.previous_case_id,
    laterCaseIds: later.map((l) => l.id),
    openedAt: row.opened_at,
    dischargedAt: row.discharged_at,
    referralVerifiedAt: row.referral_verified_at,
    guardianConsentAt: row.guardian_consent_at,
    restrictedAt: row.restricted_at,
    shreddedAt: row.shredded_at,
    appointments: appointments.map(({ id, status, ...times }) => ({
      appointmentId: id,
      status: status as AppointmentStatus,
      ...times,
    })),
  };
}

/**
 * Schedules an appointment of an active case. A discharge racing it is caught by re-checking the case after the
 * insert: if the case was discharged meanwhile, the new appointment is cancelled and the request refused.
 */
export async function scheduleCaseAppointment(
  store: Store,
  caseId: string,
  scheduledAt: number,
): Promise<{ appointmentId: string; conversationId: string }> {
  const db = store.kysely;
  const status = async () =>
    (await db.selectFrom('cases').select('status').where('id', '=', caseId).executeTakeFirst())?.status;
  const before = await status();
  if (before === undefined) throw new CaseError('NOT_FOUND', `no case ${caseId}`);
  if (before !== 'active') throw new CaseError('CONFLICT', `case ${caseId} is ${before}`);
  const appointmentId = newId('ap');
  const conversationId = newId('cv');
  await store.createAppointment({ id: appointmentId, caseId, conversationId, scheduledAt, status: 'scheduled' });
  const after = await status();
  if (after !== 'active') {
    await db.updateTable('appointments').set({ status: 'cancelled' }).where('id', '=', appointmentId).execute();
    throw new CaseError('CONFLICT', `case ${caseId} was discharged`);
  }
  return { appointmentId, conversationId };
}

/** Cancels an appointment that has not started (scheduled or waiting); anything else is a conflict. */
export async function cancelAppointment(
  db: Kysely<Database>,
  appointmentId: string,
): Promise<{ caseId: string; conversationId: string }> {
  const result = await db
    .updateTable('appointments')
    .set({ status: 'cancelled' })
    .where('id', '=', appointmentId)
    .where('status', 'in', NOT_STARTED)
    .executeTakeFirst();
  const row = await db
    .selectFrom('appointments')
    .select(['case_id', 'conversation_id', 'status'])
    .where('id', '=', appointmentId)
    .executeTakeFirst();
  if (!row) throw new CaseError('NOT_FOUND', `no appointment ${appointmentId}`);
  if (result.numUpdatedRows === 0n) {
    throw new CaseError(
      'CONFLICT',
      `appointment ${appointmentId} is ${row.status}; only scheduled or waiting ones can be cancelled`,
    );
  }
  return { caseId: row.case_id, conversationId: row.conversation_id };
}
