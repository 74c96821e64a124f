/**
 * The appointment lifecycle as the chat path drives it: the patient's join of a scheduled appointment's transcript
 * puts them in the waiting room; the case's therapist admits them (`admit`) and ends the session (`end`). Every
 * change is decided by the access policy, made by one conditional update (`appointment-transitions.ts`), audited
 * (`appointment.change`, the new status as reason), announced on the bus to every member of the transcript on every
 * node (whose cached status moves on with it), and reported to `accessChanged` so live subscriptions are re-decided.
 */
import type { AppointmentFrame, ErrorCode } from '@therapy-chat/protocol';
import type { AuditAction, AuditOutcome, AuditResourceType } from '../audit/audit-sink.js';
import type { Bus } from '../bus/bus.js';
import { type Actor, type CaseAction, caseAccessOf, decide } from '../policy/access-policy.js';
import type { ConversationInfo, Store } from '../store/store.js';
import {
  type AppointmentRecord,
  type AppointmentTransition,
  transitionAppointment,
} from './appointment-transitions.js';

export type AppointmentNotice = Omit<AppointmentFrame, 'type' | 'id'>;

export interface LifecycleDeps {
  readonly store: Pick<Store, 'getConversation' | 'kysely'>;
  readonly bus: Pick<Bus, 'publish'>;
  /** Re-decides the live subscriptions of the case on every node (ChatService.accessChanged). */
  readonly accessChanged: (caseId: string) => void;
  readonly now: () => number;
  /** Records an audit event with the caller's client details. */
  readonly audit: (
    action: AuditAction,
    outcome: AuditOutcome,
    reason: string,
    resource: { type: AuditResourceType; id: string },
  ) => void;
}

export type LifecycleResult =
  | { readonly ok: true; readonly notice: AppointmentNotice; readonly changed: boolean }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

const ACTIONS: Readonly<Record<'admit' | 'end', CaseAction>> = { admit: 'appointment.admit', end: 'appointment.end' };

function noticeOf(a: AppointmentRecord, ts: number): AppointmentNotice {
  return { conv: a.conversationId, appointmentId: a.id, status: a.status, ts };
}

/** After a change: audit it, tell every member of the transcript on every node, and re-decide access to the case. */
function announce(deps: LifecycleDeps, a: AppointmentRecord, at: number): AppointmentNotice {
  const notice = noticeOf(a, at);
  deps.audit('appointment.change', 'granted', a.status, { type: 'appointment', id: a.id });
  deps.bus.publish(a.conversationId, { kind: 'appointment', ...notice });
  deps.accessChanged(a.caseId);
  return notice;
}

/** The therapist's `admit` or `end` of the appointment whose transcript is `conv`. */
export async function requestTransition(
  deps: LifecycleDeps,
  actor: Actor,
  conv: string,
  transition: 'admit' | 'end',
): Promise<LifecycleResult> {
  const info = await deps.store.getConversation(conv);
  if (!info || info.kind !== 'appointment') {
    deps.audit('access.refused', 'refused', 'not-an-appointment', { type: 'conversation', id: conv });
    return { ok: false, code: 'NOT_FOUND', message: 'no appointment has this conversation as its transcript' };
  }
  const decision = decide(actor, ACTIONS[transition], { case: caseAccessOf(info) }, deps.now());
  if (!decision.allow) {
    deps.audit('access.refused', 'refused', decision.rule, { type: 'appointment', id: info.appointmentId! });
    return { ok: false, code: decision.code, message: decision.reason };
  }
  const at = deps.now();
  const result = await transitionAppointment(deps.store.kysely, conv, transition, at);
  switch (result.kind) {
    case 'not-found':
      return { ok: false, code: 'NOT_FOUND', message: 'no appointment has this conversation as its transcript' };
    case 'refused': {
      const { id, status } = result.appointment;
      deps.audit('access.refused', 'refused', `appointment-${status}`, { type: 'appointment', id });
      return {
        ok: false,
        code: 'APPOINTMENT_NOT_LIVE',
        message:
          transition === 'admit'
            ? `the appointment is ${status}; it cannot be admitted`
            : `the appointment is ${status}, not live`,
      };
    }
    case 'unchanged':
      return { ok: true, changed: false, notice: noticeOf(result.appointment, at) };
    case 'changed':
      return { ok: true, changed: true, notice: announce(deps, result.appointment, at) };
  }
}

/**
 * A patient joins their appointment's transcript: a scheduled appointment moves to `waiting`. Returns the
 * conversation info with the status the join should see.
 */
export async function patientArrived(deps: LifecycleDeps, info: ConversationInfo): Promise<ConversationInfo> {
  // A discharged case's appointments take nobody in (the admin cancels them); reading the transcript stays possible.
  if (info.kind !== 'appointment' || info.appointmentStatus !== 'scheduled' || info.caseStatus !== 'active')
    return info;
  const at = deps.now();
  const result = await transitionAppointment(deps.store.kysely, info.id, 'wait' satisfies AppointmentTransition, at);
  if (result.kind === 'changed') announce(deps, result.appointment, at);
  if (result.kind === 'not-found') return info;
  return { ...info, appointmentStatus: result.appointment.status };
}
