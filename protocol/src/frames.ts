/**
 * The frames of protocol v1, as discriminated unions on `type`.
 *
 * Request frames carry an `id` chosen by the client (an integer); the server's reply to that request carries the
 * same `id`. Times are milliseconds since the Unix epoch, UTC. `seq` is the per-conversation sequence number:
 * 1, 2, 3, … with no gaps.
 */
import type { ErrorCode } from './codes.js';
import type { Limits } from './limits.js';

export type Role = 'patient' | 'therapist' | 'supervisor' | 'admin';
export const ROLES: readonly Role[] = ['patient', 'therapist', 'supervisor', 'admin'];

// ---------------------------------------------------------------- client → server

/** First frame on every connection; may be sent again later with a fresh token for the same user. */
export interface AuthFrame {
  readonly type: 'auth';
  readonly id?: number;
  readonly token: string;
}

/**
 * Join a conversation. Without `since`, only live messages follow. With `since`, the server first sends every
 * message with `seq > since`, in order, then live ones; `since: 0` replays the whole conversation.
 */
export interface JoinFrame {
  readonly type: 'join';
  readonly id: number;
  readonly conv: string;
  readonly since?: number;
}

export interface LeaveFrame {
  readonly type: 'leave';
  readonly id: number;
  readonly conv: string;
}

/** Send a message. Resending the same `clientMsgId` with the same text returns the same `ack`, and stores it once. */
export interface SendFrame {
  readonly type: 'send';
  readonly id: number;
  readonly conv: string;
  readonly clientMsgId: string;
  readonly text: string;
}

/** Ephemeral: never stored, shed first under load. */
export interface TypingFrame {
  readonly type: 'typing';
  readonly conv: string;
  readonly active: boolean;
}

/** A page of older messages: those with `seq < before` (or the newest, without `before`), newest last. */
export interface HistoryFrame {
  readonly type: 'history';
  readonly id: number;
  readonly conv: string;
  readonly before?: number;
  readonly limit?: number;
}

/** Heartbeat. Either side may send `ping`; the other answers `pong` with the same `id`. */
export interface PingFrame {
  readonly type: 'ping';
  readonly id?: number;
}

export interface PongFrame {
  readonly type: 'pong';
  readonly id?: number;
}

/**
 * The therapist of the case admits the waiting patient: the appointment whose transcript is `conv` goes live. The
 * reply is an `appointment` frame with the same `id`; every member of the conversation gets one without `id`.
 */
export interface AdmitFrame {
  readonly type: 'admit';
  readonly id: number;
  readonly conv: string;
}

/** The therapist of the case ends the live appointment whose transcript is `conv`: the transcript closes for good. */
export interface EndFrame {
  readonly type: 'end';
  readonly id: number;
  readonly conv: string;
}

export type ClientFrame =
  | AuthFrame
  | JoinFrame
  | LeaveFrame
  | SendFrame
  | TypingFrame
  | HistoryFrame
  | PingFrame
  | PongFrame
  | AdmitFrame
  | EndFrame;

export type ClientFrameType = ClientFrame['type'];

// ---------------------------------------------------------------- server → client

export interface WelcomeFrame {
  readonly type: 'welcome';
  readonly id?: number;
  readonly user: string;
  readonly role: Role;
  /** This connection's id, for support and logs. */
  readonly connectionId: string;
  /** When the token expires; send `auth` with a fresh token before then. */
  readonly expiresAt: number;
  /** The server pings this often; answer with `pong`. Silence for twice this closes the connection. */
  readonly heartbeatMs: number;
  readonly limits: Limits;
  readonly serverTime: number;
}

export interface Member {
  readonly user: string;
  readonly role: Role;
}

/**
 * The conversation is joined. `lastSeq` is its last seq when the join took effect: after `joined`, a join with
 * `since` receives the messages `since + 1 … lastSeq`, then live ones.
 */
export interface JoinedFrame {
  readonly type: 'joined';
  readonly id: number;
  readonly conv: string;
  readonly lastSeq: number;
  /** True when the conversation accepts no new messages. */
  readonly closed: boolean;
  /** For an appointment's transcript: the appointment's status when the join took effect (an `appointment` frame follows). */
  readonly appointmentStatus?: AppointmentStatus;
}

/**
 * An appointment's state: `scheduled` → `waiting` (the patient joined and waits to be admitted) → `live` (the
 * therapist admitted the patient) → `ended` (the transcript is closed for good); `cancelled` by an admin before it ended.
 */
export type AppointmentStatus = 'scheduled' | 'waiting' | 'live' | 'ended' | 'cancelled';
export const APPOINTMENT_STATUSES: readonly AppointmentStatus[] = [
  'scheduled',
  'waiting',
  'live',
  'ended',
  'cancelled',
];

/**
 * The appointment whose transcript is `conv` is now in `status` (since `ts`). Pushed to every member of the
 * conversation on every node when it changes, and once right after `joined`; with `id`, the reply to `admit`/`end`.
 */
export interface AppointmentFrame {
  readonly type: 'appointment';
  readonly id?: number;
  readonly conv: string;
  readonly appointmentId: string;
  readonly status: AppointmentStatus;
  readonly ts: number;
}

export interface LeftFrame {
  readonly type: 'left';
  readonly id: number;
  readonly conv: string;
}

/** The message is durably stored under `seq`. */
export interface AckFrame {
  readonly type: 'ack';
  readonly id: number;
  readonly conv: string;
  readonly clientMsgId: string;
  readonly seq: number;
  readonly ts: number;
}

export interface ChatMessage {
  readonly conv: string;
  readonly seq: number;
  readonly from: string;
  readonly role: Role;
  readonly clientMsgId: string;
  readonly text: string;
  readonly ts: number;
}

/** A message of a joined conversation, replayed or live. */
export interface MessageFrame extends ChatMessage {
  readonly type: 'msg';
}

export interface TypingNoticeFrame {
  readonly type: 'typing';
  readonly conv: string;
  readonly user: string;
  readonly role: Role;
  readonly active: boolean;
}

/** Who is connected to the conversation right now; sent on join and whenever it changes. */
export interface PresenceFrame {
  readonly type: 'presence';
  readonly conv: string;
  readonly members: readonly Member[];
}

export interface HistoryPageFrame {
  readonly type: 'history';
  readonly id: number;
  readonly conv: string;
  /** Oldest first. */
  readonly messages: readonly ChatMessage[];
  /** True when older messages exist before the first one here. */
  readonly hasMore: boolean;
}

export interface ErrorFrame {
  readonly type: 'error';
  /** The `id` of the request this answers, when it had one. */
  readonly id?: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly conv?: string;
  readonly clientMsgId?: string;
  /** For `RATE_LIMITED`: how long to wait before retrying. */
  readonly retryAfterMs?: number;
}

/**
 * To every connection of the case's therapist and of its supervisor, on any node, joined to the conversation or not:
 * a patient's message matched the risk screen. The message itself was delivered as usual; this names it by `seq` and
 * the case by its reference, says what kind of risk, and never quotes it or names the patient.
 */
export interface RiskAlertFrame {
  readonly type: 'risk-alert';
  readonly conv: string;
  readonly seq: number;
  readonly caseId: string;
  readonly level: 'high' | 'medium';
  readonly category: string;
  readonly ts: number;
}

export interface CrisisContact {
  readonly name: string;
  readonly contact: string;
  readonly availability?: string;
}

/** To the patient whose message matched the risk screen: where to get help now. Text set by the operator. */
export interface CrisisResourcesFrame {
  readonly type: 'crisis-resources';
  readonly conv: string;
  readonly seq: number;
  readonly heading: string;
  readonly body: string;
  readonly contacts: readonly CrisisContact[];
}

export type ServerFrame =
  | WelcomeFrame
  | JoinedFrame
  | LeftFrame
  | AckFrame
  | MessageFrame
  | TypingNoticeFrame
  | PresenceFrame
  | HistoryPageFrame
  | ErrorFrame
  | RiskAlertFrame
  | CrisisResourcesFrame
  | AppointmentFrame
  | PingFrame
  | PongFrame;

export type ServerFrameType = ServerFrame['type'];
