/**
 * The minimal care model needed to chat: users with roles, a case (one patient, one therapist) with its message
 * thread and data key, and appointments with their transcripts. The admin API of a later version builds on these.
 */
import type { Role } from '@therapy-chat/protocol';
import type { DataKeyRing } from '../crypto/data-keys.js';
import { newCaseRef, newId } from '../ids.js';
import type { AppointmentStatus, NewCase, Store } from '../store/store.js';

export async function createUser(store: Store, role: Role, id: string = newId('u')): Promise<string> {
  await store.createUser({ id, role });
  return id;
}

export interface OpenedCase {
  readonly caseId: string;
  readonly threadId: string;
}

export async function openCase(
  store: Store,
  keys: DataKeyRing,
  participants: Omit<NewCase, 'id' | 'threadId'>,
): Promise<OpenedCase> {
  const caseId = newCaseRef();
  const threadId = newId('cv');
  await store.createCase({ id: caseId, threadId, ...participants });
  await keys.createForCase(caseId);
  return { caseId, threadId };
}

export interface ScheduledAppointment {
  readonly appointmentId: string;
  readonly conversationId: string;
}

export async function scheduleAppointment(
  store: Store,
  caseId: string,
  options: { readonly status?: AppointmentStatus; readonly at?: number } = {},
): Promise<ScheduledAppointment> {
  const appointmentId = newId('ap');
  const conversationId = newId('cv');
  await store.createAppointment({
    id: appointmentId,
    caseId,
    conversationId,
    scheduledAt: options.at ?? Date.now(),
    status: options.status ?? 'scheduled',
  });
  return { appointmentId, conversationId };
}
