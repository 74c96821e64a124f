/**
 * Who may do what to clinical data: one module of pure functions, so that every rule of DESIGN §2 lives in one place
 * and is tested as a full matrix. Callers pass the time and everything the rules look at; nothing here reads a clock,
 * the store or the network. Every HTTP route and every WebSocket frame that touches a case goes through `decide`.
 *
 * The rules, in the order they are checked:
 * - nothing of a shredded case (retention ended) can be read or written by anyone, whatever the clocks say;
 * - an admin reads no clinical content, except through an unexpired, unrevoked break-glass grant of their own;
 * - a patient reads and exports their own cases' records at any time, writes in the thread while the case is
 *   active, and in an appointment's transcript while it is live (before that they are in the waiting room);
 * - a therapist reads and writes the cases assigned to them while active, reads them for 6 weeks after discharge
 *   (up to, not including, discharge + 6 weeks); the therapist of a later case re-referred from this one may read it
 *   (never write) while they may read their own case — also when that is the same therapist returning;
 * - a supervisor reads the transcripts of the cases they supervise, pseudonymised, read-only;
 * - a case whose processing the patient restricted is readable only by the patient (and break-glass), and takes no
 *   new messages: nobody may process what would be written (the therapist could not read it, nor see a risk alert).
 */
import type { ErrorCode, Role } from '@therapy-chat/protocol';
import type { AppointmentStatus, CaseStatus, ConversationInfo, ConversationKind } from '../store/store.js';

/** How long the treating therapist may still read a case after its discharge: 6 weeks. */
export const THERAPIST_READ_AFTER_DISCHARGE_MS = 6 * 7 * 24 * 60 * 60 * 1000;

export interface Actor {
  readonly userId: string;
  readonly role: Role;
}

/** What the rules need to know about a case (see `case-access.ts` for loading it). */
export interface CaseAccess {
  readonly caseId: string;
  readonly status: CaseStatus;
  readonly dischargedAt: number | null;
  readonly patientId: string;
  readonly therapistId: string;
  readonly supervisorId: string | null;
  readonly restrictedAt: number | null;
  readonly shreddedAt: number | null;
  /**
   * The therapists of later cases of the same patient that were re-referred from this one (directly or through a
   * chain of re-referrals), with their own case's status: they may read this case while they may read their own.
   */
  readonly successors: readonly {
    readonly therapistId: string;
    readonly status: CaseStatus;
    readonly dischargedAt: number | null;
  }[];
  /** Break-glass grants on this case (expired and revoked ones may be included; the rules check). */
  readonly breakGlass: readonly {
    readonly adminId: string;
    readonly expiresAt: number;
    readonly revokedAt: number | null;
  }[];
}

export interface ConversationState {
  readonly kind: ConversationKind;
  readonly appointmentStatus: AppointmentStatus | null;
}

export type ConversationAction =
  /** Subscribe to a conversation over the WebSocket: receive its messages, replayed and live. */
  | 'conversation.join'
  /** Read a conversation's messages (history pages, replay). */
  | 'conversation.read'
  | 'conversation.send'
  | 'conversation.typing';

export type CaseAction =
  /** The therapist admits the waiting patient: the appointment goes live. */
  | 'appointment.admit'
  /** The therapist ends the appointment: its transcript closes. */
  | 'appointment.end'
  /** Write the clinical note of an appointment. */
  | 'note.write'
  /** Read the case's clinical notes (therapist notes and correction notes). */
  | 'note.read'
  /** Read the case's transcripts pseudonymised, as its supervisor. */
  | 'case.supervise'
  /** Download the whole record (the patient's own). */
  | 'record.export'
  /** Append a correction note disputing a fact (the patient's own). */
  | 'record.correct'
  /** Ask for erasure or restriction (the patient's own). */
  | 'record.request'
  /** See who accessed the record (the patient's own). */
  | 'record.access-report'
  /** Read the whole record under a break-glass grant (an admin). */
  | 'record.break-glass-read';

export type Action = ConversationAction | CaseAction;

export const CONVERSATION_ACTIONS: readonly ConversationAction[] = [
  'conversation.join',
  'conversation.read',
  'conversation.send',
  'conversation.typing',
];

export const CASE_ACTIONS: readonly CaseAction[] = [
  'appointment.admit',
  'appointment.end',
  'note.write',
  'note.read',
  'case.supervise',
  'record.export',
  'record.correct',
  'record.request',
  'record.access-report',
  'record.break-glass-read',
];

export const ACTIONS: readonly Action[] = [...CONVERSATION_ACTIONS, ...CASE_ACTIONS];

export interface Target {
  readonly case: CaseAccess;
  /** For conversation actions: the conversation acted on (a thread or an appointment's transcript). */
  readonly conversation?: ConversationState;
}

/**
 * `reason` is for people (logs, error messages); `rule` is the short fixed code the audit log records.
 */
export type Decision =
  | { readonly allow: true; readonly rule: string; readonly reason: string }
  | { readonly allow: false; readonly code: ErrorCode; readonly rule: string; readonly reason: string };

const allow = (rule: string, reason: string): Decision => ({ allow: true, rule, reason });
const deny = (code: ErrorCode, rule: string, reason: string): Decision => ({ allow: false, code, rule, reason });

const READ_ACTIONS: ReadonlySet<Action> = new Set(['conversation.join', 'conversation.read']);
const WRITE_ACTIONS: ReadonlySet<Action> = new Set(['conversation.send', 'conversation.typing']);
const PATIENT_RIGHTS: ReadonlySet<Action> = new Set([
  'record.export',
  'record.correct',
  'record.request',
  'record.access-report',
]);

/** Whether the case's treating therapist may still read it: while active, and until 6 weeks after discharge. */
export function therapistMayRead(status: CaseStatus, dischargedAt: number | null, now: number): boolean {
  if (status === 'active') return true;
  return dischargedAt !== null && now < dischargedAt + THERAPIST_READ_AFTER_DISCHARGE_MS;
}

/** Whether new messages may be written to the conversation now (by someone who may write at all). */
function writable(c: CaseAccess, conv: ConversationState | undefined, role: Role): Decision | undefined {
  if (restricted(c)) {
    return deny('CONVERSATION_CLOSED', 'processing-restricted', 'the patient restricted processing of this record');
  }
  if (c.status !== 'active') return deny('CONVERSATION_CLOSED', 'case-discharged', 'the case is discharged');
  if (!conv) return deny('INVALID_FIELD', 'no-conversation', 'no conversation named');
  if (conv.kind === 'thread') return undefined;
  switch (conv.appointmentStatus) {
    case 'ended':
      return deny('CONVERSATION_CLOSED', 'appointment-ended', 'the appointment has ended');
    case 'cancelled':
      return deny('CONVERSATION_CLOSED', 'appointment-cancelled', 'the appointment was cancelled');
    case 'live':
      return undefined;
    default:
      // Before the therapist admits the patient, the transcript takes nothing: the patient is in the waiting room.
      return role === 'patient'
        ? deny('WAITING_ROOM', 'waiting-room', 'the therapist has not admitted you yet')
        : deny('APPOINTMENT_NOT_LIVE', 'appointment-not-live', 'admit the patient before writing');
  }
}

/** A restriction holds from the moment it is recorded, whatever this node's clock says. */
function restricted(c: CaseAccess): boolean {
  return c.restrictedAt !== null;
}

export function decide(actor: Actor, action: Action, target: Target, now: number): Decision {
  const c = target.case;
  // Once the keys are destroyed nothing is readable, so a shredding stamped ahead of this node's clock counts too.
  if (c.shreddedAt !== null) {
    return deny(
      'FORBIDDEN',
      'retention-ended',
      `the records of case ${c.caseId} were destroyed at the end of retention`,
    );
  }
  switch (actor.role) {
    case 'admin': {
      if (action !== 'record.break-glass-read') {
        return deny('FORBIDDEN', 'admin-no-clinical-access', 'admins read no clinical content');
      }
      const grant = c.breakGlass.find((g) => g.adminId === actor.userId && g.revokedAt === null && now < g.expiresAt);
      return grant
        ? allow('break-glass-grant', `break-glass grant on case ${c.caseId}`)
        : deny('FORBIDDEN', 'no-break-glass-grant', `no current break-glass grant on case ${c.caseId}`);
    }
    case 'patient': {
      if (actor.userId !== c.patientId) {
        return deny('FORBIDDEN', 'not-own-case', `not a participant of case ${c.caseId}`);
      }
      if (READ_ACTIONS.has(action) || PATIENT_RIGHTS.has(action) || action === 'note.read') {
        return allow('patient-own-case', `patient of case ${c.caseId}`);
      }
      if (WRITE_ACTIONS.has(action)) {
        return writable(c, target.conversation, 'patient') ?? allow('patient-own-case', `patient of case ${c.caseId}`);
      }
      return deny('FORBIDDEN', 'role-not-permitted', `a patient may not ${action}`);
    }
    case 'therapist': {
      const assigned = actor.userId === c.therapistId;
      const own = assigned && therapistMayRead(c.status, c.dischargedAt, now);
      // A therapist re-referred the same patient again reads the earlier case as its successor, even when their own
      // window on it has ended.
      const successor = c.successors.some(
        (s) => s.therapistId === actor.userId && therapistMayRead(s.status, s.dischargedAt, now),
      );
      if (!own && !successor) {
        return assigned
          ? deny('FORBIDDEN', 'therapist-window-ended', 'access ended 6 weeks after discharge')
          : deny('FORBIDDEN', 'not-assigned', `not the therapist of case ${c.caseId}`);
      }
      if (restricted(c)) {
        return deny('FORBIDDEN', 'processing-restricted', 'the patient restricted processing of this record');
      }
      if (own) {
        const rule = c.status === 'active' ? 'therapist-of-case' : 'therapist-post-discharge-window';
        if (READ_ACTIONS.has(action) || action === 'note.read') return allow(rule, `therapist of case ${c.caseId}`);
        if (WRITE_ACTIONS.has(action)) {
          return writable(c, target.conversation, 'therapist') ?? allow(rule, `therapist of case ${c.caseId}`);
        }
        if (action === 'appointment.admit' || action === 'appointment.end' || action === 'note.write') {
          if (c.status !== 'active') return deny('CONVERSATION_CLOSED', 'case-discharged', 'the case is discharged');
          return allow(rule, `therapist of case ${c.caseId}`);
        }
        return deny('FORBIDDEN', 'role-not-permitted', `a therapist may not ${action}`);
      }
      if (READ_ACTIONS.has(action) || action === 'note.read') {
        return allow('re-referral-therapist', `therapist of a case re-referred from ${c.caseId}`);
      }
      return deny('FORBIDDEN', 'earlier-case-read-only', 'an earlier case of a re-referred patient is read-only');
    }
    case 'supervisor': {
      if (actor.userId !== c.supervisorId) {
        return deny('FORBIDDEN', 'not-supervisor-of-case', `not the supervisor of case ${c.caseId}`);
      }
      if (action !== 'case.supervise') {
        return deny('FORBIDDEN', 'supervisor-pseudonymised-only', 'supervisors read pseudonymised transcripts only');
      }
      if (restricted(c)) {
        return deny('FORBIDDEN', 'processing-restricted', 'the patient restricted processing of this record');
      }
      return allow('supervisor-of-case', `supervisor of case ${c.caseId}`);
    }
  }
}

/** The case as the chat path knows it (from a conversation lookup), with the extra links the join path loads. */
export function caseAccessOf(
  info: ConversationInfo,
  links: Pick<CaseAccess, 'successors' | 'breakGlass'> = { successors: [], breakGlass: [] },
): CaseAccess {
  return {
    caseId: info.caseId,
    status: info.caseStatus,
    dischargedAt: info.dischargedAt,
    patientId: info.patientId,
    therapistId: info.therapistId,
    supervisorId: info.supervisorId,
    restrictedAt: info.restrictedAt,
    shreddedAt: info.shreddedAt,
    ...links,
  };
}

/** A conversation action, decided from what a subscription holds. */
export function can(
  actor: Actor,
  action: ConversationAction,
  info: ConversationInfo,
  now: number,
  links?: Pick<CaseAccess, 'successors' | 'breakGlass'>,
): Decision {
  return decide(actor, action, { case: caseAccessOf(info, links), conversation: info }, now);
}
