/**
 * Who may do what to a conversation: one module of pure functions, so that every rule lives in one place and is
 * tested as a matrix. Callers pass the time; nothing here reads a clock, the store or the network.
 *
 * Today's rules (the care model of DESIGN §2 extends them): only the case's patient and its therapist, each in
 * their own role, may join, read and write its conversations; nothing is written to a closed conversation.
 */
import type { ErrorCode, Role } from '@therapy-chat/protocol';
import { conversationAcceptsMessages, type ConversationInfo } from '../store/store.js';

export interface Actor {
  readonly userId: string;
  readonly role: Role;
}

export type ConversationAction =
  'conversation.join' | 'conversation.read' | 'conversation.send' | 'conversation.typing';

/**
 * `reason` is for people (logs, error messages); `rule` is the short fixed code the audit log records.
 */
export type Decision =
  | { readonly allow: true; readonly rule: string; readonly reason: string }
  | { readonly allow: false; readonly code: ErrorCode; readonly rule: string; readonly reason: string };

function participantRole(actor: Actor, conv: ConversationInfo): 'patient' | 'therapist' | undefined {
  if (actor.role === 'patient' && actor.userId === conv.patientId) return 'patient';
  if (actor.role === 'therapist' && actor.userId === conv.therapistId) return 'therapist';
  return undefined;
}

export function can(actor: Actor, action: ConversationAction, conv: ConversationInfo, _now: number): Decision {
  const as = participantRole(actor, conv);
  if (!as) {
    return {
      allow: false,
      code: 'FORBIDDEN',
      rule: 'not-participant',
      reason: `not a participant of case ${conv.caseId}`,
    };
  }
  switch (action) {
    case 'conversation.join':
    case 'conversation.read':
      return { allow: true, rule: `${as}-of-case`, reason: `${as} of case ${conv.caseId}` };
    case 'conversation.send':
    case 'conversation.typing':
      if (!conversationAcceptsMessages(conv)) {
        const ended = conv.kind === 'appointment';
        return {
          allow: false,
          code: 'CONVERSATION_CLOSED',
          rule: ended ? 'appointment-ended' : 'case-discharged',
          reason: ended ? 'the appointment has ended' : 'the case is discharged',
        };
      }
      return { allow: true, rule: `${as}-of-case`, reason: `${as} of case ${conv.caseId}` };
  }
}
