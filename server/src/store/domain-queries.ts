/**
 * The cold queries of the care model, through Kysely: one typed implementation for every SQL dialect.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { AppointmentStatus, DataKeyRecord, NewAppointment, NewCase, NewUser } from './store.js';

export async function dataKeysForCase(db: Kysely<Database>, caseId: string): Promise<DataKeyRecord[]> {
  const rows = await db.selectFrom('data_keys').selectAll().where('case_id', '=', caseId).execute();
  return rows.map((r) => ({
    id: r.id,
    caseId: r.case_id,
    kekId: r.kek_id,
    wrapped: Buffer.from(r.wrapped),
    createdAt: r.created_at,
  }));
}

export async function insertDataKey(db: Kysely<Database>, key: DataKeyRecord): Promise<void> {
  await db
    .insertInto('data_keys')
    .values({
      id: key.id,
      case_id: key.caseId,
      kek_id: key.kekId,
      wrapped: key.wrapped,
      created_at: key.createdAt,
    })
    .execute();
}

export async function createUser(db: Kysely<Database>, user: NewUser): Promise<void> {
  await db.insertInto('users').values({ id: user.id, role: user.role, created_at: Date.now() }).execute();
}

export async function createCase(db: Kysely<Database>, c: NewCase): Promise<void> {
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('cases')
      .values({
        id: c.id,
        patient_id: c.patientId,
        therapist_id: c.therapistId,
        status: 'active',
        opened_at: now,
        discharged_at: null,
        supervisor_id: c.supervisorId ?? null,
        ...(c.contractId !== undefined && { contract_id: c.contractId }),
        previous_case_id: c.previousCaseId ?? null,
        referral_verified_at: c.referralVerifiedAt ?? null,
        guardian_consent_at: c.guardianConsentAt ?? null,
      })
      .execute();
    await trx
      .insertInto('conversations')
      .values({
        id: c.threadId,
        case_id: c.id,
        kind: 'thread',
        created_at: now,
      })
      .execute();
  });
}

export async function createAppointment(db: Kysely<Database>, a: NewAppointment): Promise<void> {
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('conversations')
      .values({
        id: a.conversationId,
        case_id: a.caseId,
        kind: 'appointment',
        created_at: now,
      })
      .execute();
    await trx
      .insertInto('appointments')
      .values({
        id: a.id,
        case_id: a.caseId,
        conversation_id: a.conversationId,
        status: a.status,
        scheduled_at: a.scheduledAt,
        started_at: a.status === 'live' ? now : null,
        ended_at: null,
      })
      .execute();
  });
}

export async function setAppointmentStatus(
  db: Kysely<Database>,
  id: string,
  status: AppointmentStatus,
  at: number,
): Promise<void> {
  const patch =
    status === 'live' ? { status, started_at: at } : status === 'ended' ? { status, ended_at: at } : { status };
  const res = await db.updateTable('appointments').set(patch).where('id', '=', id).executeTakeFirst();
  if (res.numUpdatedRows === 0n) throw new Error(`no appointment ${id}`);
}
