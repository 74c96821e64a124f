/** Seeds a case with a supervisor and a scheduled appointment, for the appointment and risk-alert tests. */
import { createUser, openCase, scheduleAppointment } from '../../src/domain/care-setup.js';
import { mintToken, type TestServer } from './harness.js';

export interface Scheduled {
  readonly caseId: string;
  readonly threadId: string;
  readonly appointmentId: string;
  readonly conv: string;
  readonly therapistId: string;
  readonly patientId: string;
  readonly supervisorId: string;
  readonly therapistToken: string;
  readonly patientToken: string;
  readonly supervisorToken: string;
  readonly strangerToken: string;
}

/** A case with a supervisor and a scheduled appointment, plus a therapist of another case. */
export async function seedScheduled(ts: TestServer): Promise<Scheduled> {
  const { store, keys } = ts.server;
  const therapistId = await createUser(store, 'therapist');
  const patientId = await createUser(store, 'patient');
  const supervisorId = await createUser(store, 'supervisor');
  const strangerId = await createUser(store, 'therapist');
  const { caseId, threadId } = await openCase(store, keys, { patientId, therapistId, supervisorId });
  const { appointmentId, conversationId } = await scheduleAppointment(store, caseId);
  return {
    caseId,
    threadId,
    appointmentId,
    conv: conversationId,
    therapistId,
    patientId,
    supervisorId,
    therapistToken: await mintToken(ts.dataDir, therapistId, 'therapist'),
    patientToken: await mintToken(ts.dataDir, patientId, 'patient'),
    supervisorToken: await mintToken(ts.dataDir, supervisorId, 'supervisor'),
    strangerToken: await mintToken(ts.dataDir, strangerId, 'therapist'),
  };
}
