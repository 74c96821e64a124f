import { describe, expect, it } from 'vitest';
import { ROLES } from '@therapy-chat/protocol';
import type { AppointmentStatus, CaseStatus, ConversationInfo } from '../store/store.js';
import { can, type ConversationAction } from './access-policy.js';

const ACTIONS: ConversationAction[] = [
  'conversation.join',
  'conversation.read',
  'conversation.send',
  'conversation.typing',
];
const NOW = Date.UTC(2026, 10, 23);

function conversation(
  kind: 'appointment' | 'thread',
  caseStatus: CaseStatus,
  status: AppointmentStatus | null,
): ConversationInfo {
  return {
    id: 'cv_1',
    kind,
    caseId: 'C-AAAA-BBBB',
    caseStatus,
    patientId: 'u_patient',
    therapistId: 'u_therapist',
    appointmentId: kind === 'appointment' ? 'ap_1' : null,
    appointmentStatus: status,
    lastSeq: 0,
  };
}

const STATES: ConversationInfo[] = [
  ...(['scheduled', 'waiting', 'live', 'ended'] as const).map((s) => conversation('appointment', 'active', s)),
  conversation('thread', 'active', null),
  conversation('thread', 'discharged', null),
];

const USERS = ['u_patient', 'u_therapist', 'u_stranger'];

describe('access policy matrix: every role × user × action × conversation state', () => {
  for (const role of ROLES) {
    for (const user of USERS) {
      for (const conv of STATES) {
        for (const action of ACTIONS) {
          const participant =
            (role === 'patient' && user === 'u_patient') || (role === 'therapist' && user === 'u_therapist');
          const writing = action === 'conversation.send' || action === 'conversation.typing';
          const open = conv.kind === 'appointment' ? conv.appointmentStatus !== 'ended' : conv.caseStatus === 'active';
          const expected = participant && (!writing || open);
          const label = `${role} ${user} ${action} ${conv.kind}/${conv.appointmentStatus ?? conv.caseStatus}`;
          it(`${expected ? 'allows' : 'denies'} ${label}`, () => {
            const d = can({ userId: user, role: role }, action, conv, NOW);
            expect(d.allow).toBe(expected);
            if (!d.allow) expect(d.code).toBe(participant ? 'CONVERSATION_CLOSED' : 'FORBIDDEN');
            expect(d.reason.length).toBeGreaterThan(0);
          });
        }
      }
    }
  }
});
