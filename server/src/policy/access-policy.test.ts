/**
 * The access policy as a full matrix: every role × every user's relation to the case × every action × every state of
 * the case × every state of the conversation, against an oracle written from DESIGN §2 (not from the implementation).
 * Any wrongful grant or wrongful refusal fails, and so does a refusal without a registered code or with a rule the
 * audit log would not take.
 */
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, ROLES, type ErrorCode, type Role } from '@therapy-chat/protocol';
import type { AppointmentStatus, ConversationInfo } from '../store/store.js';
import {
  ACTIONS,
  can,
  decide,
  type Action,
  type CaseAccess,
  type ConversationState,
  type Decision,
} from './access-policy.js';

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;
const SIX_WEEKS = 42 * DAY;
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const AUDIT_REASON = /^[a-z0-9]+(?:[._:@-][a-z0-9]+)*$/;

// ------------------------------------------------------------------------------------------------ the people

/** Every relation a user can have to the case under test. */
const USERS = {
  patient: 'u_patient',
  otherPatient: 'u_other_patient',
  therapist: 'u_therapist',
  otherTherapist: 'u_other_therapist',
  /** Therapist of a later case re-referred from this one, still active. */
  successorActive: 'u_succ_active',
  /** Therapist of a later case, discharged 6 weeks − 1 s ago. */
  successorWithin: 'u_succ_within',
  /** Therapist of a later case, discharged exactly 6 weeks ago. */
  successorBoundary: 'u_succ_boundary',
  /** Therapist of a later case, discharged 6 weeks + 1 s ago. */
  successorAfter: 'u_succ_after',
  supervisor: 'u_supervisor',
  otherSupervisor: 'u_other_supervisor',
  adminCurrentGrant: 'u_admin_current',
  adminExpiredGrant: 'u_admin_expired',
  /** The grant expires exactly now. */
  adminGrantEndsNow: 'u_admin_ends_now',
  adminRevokedGrant: 'u_admin_revoked',
  /** Another admin holds a grant; this one holds none. */
  adminNoGrant: 'u_admin_none',
} as const;
type Relation = keyof typeof USERS;

// ------------------------------------------------------------------------------------------------ the states

interface CaseState {
  readonly name: string;
  readonly active: boolean;
  readonly dischargedAt: number | null;
  readonly restricted: boolean;
  readonly shredded: boolean;
}

const CASE_STATES: CaseState[] = [
  { name: 'active', active: true, dischargedAt: null, restricted: false, shredded: false },
  { name: 'discharged-today', active: false, dischargedAt: NOW - 3600 * SECOND, restricted: false, shredded: false },
  {
    name: 'discharged-6w-minus-1s',
    active: false,
    dischargedAt: NOW - SIX_WEEKS + SECOND,
    restricted: false,
    shredded: false,
  },
  { name: 'discharged-6w-exactly', active: false, dischargedAt: NOW - SIX_WEEKS, restricted: false, shredded: false },
  {
    name: 'discharged-6w-plus-1s',
    active: false,
    dischargedAt: NOW - SIX_WEEKS - SECOND,
    restricted: false,
    shredded: false,
  },
  { name: 'active-restricted', active: true, dischargedAt: null, restricted: true, shredded: false },
  {
    name: 'discharged-restricted',
    active: false,
    dischargedAt: NOW - 7 * DAY,
    restricted: true,
    shredded: false,
  },
  {
    name: 'shredded',
    active: false,
    dischargedAt: NOW - 20 * 365 * DAY,
    restricted: false,
    shredded: true,
  },
];

type ConvState = { readonly name: string; readonly conv: ConversationState };
const CONV_STATES: ConvState[] = [
  ...(['scheduled', 'waiting', 'live', 'ended', 'cancelled'] as AppointmentStatus[]).map((s) => ({
    name: `appointment-${s}`,
    conv: { kind: 'appointment' as const, appointmentStatus: s },
  })),
  { name: 'thread', conv: { kind: 'thread', appointmentStatus: null } },
];

function caseAccess(st: CaseState): CaseAccess {
  return {
    caseId: 'C-TEST-0001',
    status: st.active ? 'active' : 'discharged',
    dischargedAt: st.dischargedAt,
    patientId: USERS.patient,
    therapistId: USERS.therapist,
    supervisorId: USERS.supervisor,
    restrictedAt: st.restricted ? NOW - DAY : null,
    shreddedAt: st.shredded ? NOW - DAY : null,
    successors: [
      { therapistId: USERS.successorActive, status: 'active', dischargedAt: null },
      { therapistId: USERS.successorWithin, status: 'discharged', dischargedAt: NOW - SIX_WEEKS + SECOND },
      { therapistId: USERS.successorBoundary, status: 'discharged', dischargedAt: NOW - SIX_WEEKS },
      { therapistId: USERS.successorAfter, status: 'discharged', dischargedAt: NOW - SIX_WEEKS - SECOND },
    ],
    breakGlass: [
      { adminId: USERS.adminCurrentGrant, expiresAt: NOW + 3600 * SECOND, revokedAt: null },
      { adminId: USERS.adminExpiredGrant, expiresAt: NOW - SECOND, revokedAt: null },
      { adminId: USERS.adminGrantEndsNow, expiresAt: NOW, revokedAt: null },
      { adminId: USERS.adminRevokedGrant, expiresAt: NOW + 3600 * SECOND, revokedAt: NOW - 60 * SECOND },
    ],
  };
}

// ------------------------------------------------------------------------------------------------ the oracle

/** The oracle's own record of the later cases (the same facts as `caseAccess` gives the policy). */
const SUCCESSOR_CASES: Partial<Record<Relation, { active: boolean; dischargedAt: number | null }>> = {
  successorActive: { active: true, dischargedAt: null },
  successorWithin: { active: false, dischargedAt: NOW - SIX_WEEKS + SECOND },
  successorBoundary: { active: false, dischargedAt: NOW - SIX_WEEKS },
  successorAfter: { active: false, dischargedAt: NOW - SIX_WEEKS - SECOND },
};

type Expected = { readonly allow: true } | { readonly allow: false; readonly code: ErrorCode };
const GRANT: Expected = { allow: true };
const refuse = (code: ErrorCode): Expected => ({ allow: false, code });

/**
 * DESIGN §2, read literally. "For 6 weeks after discharge" ends at discharge + 6 weeks: at that instant the window
 * is over. A restriction freezes the record: only the patient (and break-glass) may read it, nobody may add to it.
 */
function oracle(role: Role, relation: Relation, action: Action, st: CaseState, cs: ConvState): Expected {
  if (st.shredded) return refuse('FORBIDDEN'); // the keys are gone: nobody reads anything
  const conversationRead = action === 'conversation.join' || action === 'conversation.read';
  const conversationWrite = action === 'conversation.send' || action === 'conversation.typing';
  const withinSixWeeks = (dischargedAt: number | null) => dischargedAt !== null && NOW < dischargedAt + SIX_WEEKS;

  /** Why a participant who may write in principle cannot write in this conversation now. */
  const writeBlock = (waitingCode: ErrorCode): Expected => {
    if (st.restricted || !st.active) return refuse('CONVERSATION_CLOSED');
    if (cs.conv.kind === 'thread') return GRANT;
    switch (cs.conv.appointmentStatus) {
      case 'live':
        return GRANT;
      case 'ended':
      case 'cancelled':
        return refuse('CONVERSATION_CLOSED');
      default:
        return refuse(waitingCode);
    }
  };

  switch (role) {
    case 'admin': {
      // No clinical content, except the break-glass read under one's own current grant.
      const ownCurrentGrant = relation === 'adminCurrentGrant';
      return action === 'record.break-glass-read' && ownCurrentGrant ? GRANT : refuse('FORBIDDEN');
    }
    case 'patient': {
      if (relation !== 'patient') return refuse('FORBIDDEN');
      if (conversationRead || action === 'note.read') return GRANT;
      if (['record.export', 'record.correct', 'record.request', 'record.access-report'].includes(action)) return GRANT;
      if (conversationWrite) return writeBlock('WAITING_ROOM');
      return refuse('FORBIDDEN'); // admit, end, write notes, supervise, break-glass
    }
    case 'therapist': {
      const treating = relation === 'therapist' && (st.active || withinSixWeeks(st.dischargedAt));
      // The later case's therapist reads the earlier case while they may read their own (same 6-week rule).
      const successorCase = SUCCESSOR_CASES[relation];
      const successor =
        successorCase !== undefined && (successorCase.active || withinSixWeeks(successorCase.dischargedAt));
      if (!treating && !successor) return refuse('FORBIDDEN');
      if (st.restricted) return refuse('FORBIDDEN');
      if (treating) {
        if (conversationRead || action === 'note.read') return GRANT;
        if (conversationWrite) return writeBlock('APPOINTMENT_NOT_LIVE');
        if (action === 'appointment.admit' || action === 'appointment.end' || action === 'note.write')
          return st.active ? GRANT : refuse('CONVERSATION_CLOSED');
        return refuse('FORBIDDEN');
      }
      return conversationRead || action === 'note.read' ? GRANT : refuse('FORBIDDEN');
    }
    case 'supervisor':
      return relation === 'supervisor' && action === 'case.supervise' && !st.restricted ? GRANT : refuse('FORBIDDEN');
  }
}

// ------------------------------------------------------------------------------------------------ the matrix

function describeDecision(d: Decision): string {
  return d.allow ? `allow (${d.rule})` : `deny ${d.code} (${d.rule})`;
}

describe('access policy matrix: role × relation × action × case state × conversation state', () => {
  const relations = Object.keys(USERS) as Relation[];
  for (const role of ROLES) {
    for (const relation of relations) {
      it(`${role} whose id is the ${relation}'s: no wrongful grant, no wrongful refusal`, () => {
        const wrong: string[] = [];
        let checked = 0;
        for (const st of CASE_STATES) {
          const c = caseAccess(st);
          for (const cs of CONV_STATES) {
            for (const action of ACTIONS) {
              const d = decide({ userId: USERS[relation], role }, action, { case: c, conversation: cs.conv }, NOW);
              const want = oracle(role, relation, action, st, cs);
              checked++;
              const label = `${action} on ${st.name}/${cs.name}`;
              if (d.allow !== want.allow) {
                wrong.push(`${want.allow ? 'wrongful refusal' : 'wrongful grant'}: ${label} → ${describeDecision(d)}`);
              } else if (!d.allow && !want.allow && d.code !== want.code) {
                wrong.push(`wrong code: ${label} → ${d.code}, expected ${want.code}`);
              }
              if (!AUDIT_REASON.test(d.rule) || d.rule.length > 96) wrong.push(`bad rule "${d.rule}": ${label}`);
              if (!d.allow && !(d.code in ERROR_CODES)) wrong.push(`unregistered code ${d.code}: ${label}`);
              if (d.reason.length === 0) wrong.push(`no reason: ${label}`);
            }
          }
        }
        expect(checked).toBe(CASE_STATES.length * CONV_STATES.length * ACTIONS.length);
        expect(wrong).toEqual([]);
      });
    }
  }

  it('covers every action the policy knows', () => {
    expect(new Set(ACTIONS).size).toBe(14);
  });
});

describe('the discharge + 6 weeks boundary on a moving clock', () => {
  const dischargedAt = Date.UTC(2026, 0, 5, 9, 30, 0);
  const c: CaseAccess = { ...caseAccess(CASE_STATES[0]!), status: 'discharged', dischargedAt };
  const thread: ConversationState = { kind: 'thread', appointmentStatus: null };
  const therapist = { userId: USERS.therapist, role: 'therapist' as const };
  const patient = { userId: USERS.patient, role: 'patient' as const };

  it('lets the treating therapist read until discharge + 6 weeks − 1 s, and not from discharge + 6 weeks', () => {
    const at = (t: number) => decide(therapist, 'conversation.read', { case: c, conversation: thread }, t);
    expect(at(dischargedAt).allow).toBe(true);
    expect(at(dischargedAt + SIX_WEEKS - SECOND).allow).toBe(true);
    expect(at(dischargedAt + SIX_WEEKS - 1).allow).toBe(true);
    const ended = at(dischargedAt + SIX_WEEKS);
    expect(ended).toMatchObject({ allow: false, code: 'FORBIDDEN', rule: 'therapist-window-ended' });
    expect(at(dischargedAt + SIX_WEEKS + SECOND).allow).toBe(false);
  });

  it('lets the patient read years later, but never write after discharge', () => {
    const years = dischargedAt + 15 * 365 * DAY;
    expect(decide(patient, 'conversation.read', { case: c, conversation: thread }, years).allow).toBe(true);
    expect(decide(patient, 'record.export', { case: c }, years).allow).toBe(true);
    expect(decide(patient, 'conversation.send', { case: c, conversation: thread }, dischargedAt)).toMatchObject({
      allow: false,
      code: 'CONVERSATION_CLOSED',
    });
  });
});

describe('re-referral', () => {
  const therapist = { userId: USERS.therapist, role: 'therapist' as const };
  const thread: ConversationState = { kind: 'thread', appointmentStatus: null };

  it('lets a therapist re-referred the same patient read their earlier case after their own window ended', () => {
    // The earlier case ended a year ago; the patient came back to the same therapist.
    const earlier: CaseAccess = {
      ...caseAccess(CASE_STATES[0]!),
      status: 'discharged',
      dischargedAt: NOW - 365 * DAY,
      successors: [{ therapistId: USERS.therapist, status: 'active', dischargedAt: null }],
    };
    expect(decide(therapist, 'conversation.join', { case: earlier, conversation: thread }, NOW)).toMatchObject({
      allow: true,
      rule: 're-referral-therapist',
    });
    expect(decide(therapist, 'conversation.send', { case: earlier, conversation: thread }, NOW)).toMatchObject({
      allow: false,
      code: 'FORBIDDEN',
      rule: 'earlier-case-read-only',
    });
    expect(decide(therapist, 'note.write', { case: earlier }, NOW).allow).toBe(false);
  });

  it('gives the re-referral successor nothing of a case they are linked to once their own window ends', () => {
    const earlier: CaseAccess = {
      ...caseAccess(CASE_STATES[0]!),
      successors: [{ therapistId: USERS.otherTherapist, status: 'discharged', dischargedAt: NOW - SIX_WEEKS }],
    };
    const other = { userId: USERS.otherTherapist, role: 'therapist' as const };
    expect(decide(other, 'conversation.read', { case: earlier, conversation: thread }, NOW - 1).allow).toBe(true);
    expect(decide(other, 'conversation.read', { case: earlier, conversation: thread }, NOW)).toMatchObject({
      allow: false,
      rule: 'not-assigned',
    });
  });
});

describe('can: a conversation action from what a subscription holds', () => {
  const info: ConversationInfo = {
    id: 'cv_1',
    kind: 'appointment',
    caseId: 'C-TEST-0001',
    caseStatus: 'active',
    patientId: USERS.patient,
    therapistId: USERS.therapist,
    supervisorId: USERS.supervisor,
    dischargedAt: null,
    restrictedAt: null,
    shreddedAt: null,
    appointmentId: 'ap_1',
    appointmentStatus: 'live',
    lastSeq: 3,
  };

  it('decides as decide does on the same facts, with re-referral links when given', () => {
    const successor = { userId: USERS.successorActive, role: 'therapist' as const };
    expect(can(successor, 'conversation.join', info, NOW).allow).toBe(false);
    const links = {
      successors: [{ therapistId: USERS.successorActive, status: 'active' as const, dischargedAt: null }],
      breakGlass: [],
    };
    expect(can(successor, 'conversation.join', info, NOW, links).allow).toBe(true);
    expect(can(successor, 'conversation.send', info, NOW, links).allow).toBe(false);
    expect(can({ userId: USERS.patient, role: 'patient' }, 'conversation.send', info, NOW).allow).toBe(true);
  });
});
