/**
 * One registry for every code the protocol speaks: the error codes carried by `error` frames (the connection stays
 * open) and the WebSocket close codes (the connection ends). Server and SDK both read this file, so a code means the
 * same thing on both sides.
 */

/** What a client should do about an error frame. */
export type ErrorCategory =
  /** The request was wrong; sending it again unchanged gets the same answer. */
  | 'request'
  /** The credentials are missing, invalid or expired. */
  | 'auth'
  /** The user may not do this to this resource, or it is not in a state that allows it. */
  | 'access'
  /** Too much, too fast: wait `retryAfterMs` and try again. */
  | 'flow'
  /** The server could not do it now; the same request may succeed later (resends are idempotent). */
  | 'server';

export interface ErrorCodeInfo {
  readonly category: ErrorCategory;
  /** True when the same request may succeed if sent again later, unchanged. */
  readonly retryable: boolean;
  /** What it means, for the developer who sees it. */
  readonly description: string;
}

export const ERROR_CODES = {
  BAD_FRAME: {
    category: 'request',
    retryable: false,
    description: 'The frame could not be decoded with the negotiated codec, or is not an object with a string `type`.',
  },
  UNKNOWN_TYPE: {
    category: 'request',
    retryable: false,
    description: 'The frame `type` is not one a client may send.',
  },
  INVALID_FIELD: {
    category: 'request',
    retryable: false,
    description: 'A field is missing, of the wrong type or out of range; the message names the field.',
  },
  FRAME_TOO_LARGE: {
    category: 'request',
    retryable: false,
    description: 'The frame is larger than `maxFrameBytes`. It was not processed.',
  },
  TEXT_TOO_LONG: {
    category: 'request',
    retryable: false,
    description: 'The message text is longer than `maxTextLength` characters (Unicode code points).',
  },
  NOT_JOINED: {
    category: 'request',
    retryable: false,
    description: 'The frame names a conversation this connection has not joined; send `join` first.',
  },
  TOO_MANY_CONVERSATIONS: {
    category: 'request',
    retryable: false,
    description: 'This connection has joined `maxConversationsPerConnection` conversations; leave one first.',
  },
  CLIENT_MSG_ID_REUSED: {
    category: 'request',
    retryable: false,
    description:
      'This `clientMsgId` was already used by this sender in this conversation for a different text. A resend must carry the same text; a new message needs a new id.',
  },
  ALREADY_AUTHENTICATED: {
    category: 'request',
    retryable: false,
    description: 'A refresh `auth` frame carried a token for a different user than the one this connection belongs to.',
  },
  INVALID_TOKEN: {
    category: 'auth',
    retryable: false,
    description: 'The token is malformed, wrongly signed, or has the wrong issuer, audience or algorithm.',
  },
  TOKEN_EXPIRED: {
    category: 'auth',
    retryable: false,
    description: 'The token has expired. Get a fresh one and send `auth` again.',
  },
  ACCOUNT_DISABLED: {
    category: 'auth',
    retryable: false,
    description: 'The account is disabled; the connection closes (4003). An admin can enable it again.',
  },
  SESSION_ENDED: {
    category: 'auth',
    retryable: false,
    description:
      'The login session of the token was logged out, revoked or ran out; the connection closes (4005). Log in again.',
  },
  FORBIDDEN: {
    category: 'access',
    retryable: false,
    description: 'The user may not do this to this conversation.',
  },
  NOT_FOUND: {
    category: 'access',
    retryable: false,
    description: 'No such conversation.',
  },
  CONVERSATION_CLOSED: {
    category: 'access',
    retryable: false,
    description: 'The conversation accepts no new messages (its appointment has ended). It can still be read.',
  },
  WAITING_ROOM: {
    category: 'access',
    retryable: true,
    description:
      'The patient is in the waiting room: the appointment has not gone live. Resend after the therapist admits you (an `appointment` frame with status `live`).',
  },
  APPOINTMENT_NOT_LIVE: {
    category: 'access',
    retryable: false,
    description:
      'The appointment is not in a state that allows this (write before admitting the patient, admit an ended appointment, end one that is not live).',
  },
  ACCESS_REVOKED: {
    category: 'access',
    retryable: false,
    description:
      'Pushed without an `id`: access to the conversation ended while joined (discharge + 6 weeks, reassignment, restriction, a break-glass grant expired). The conversation was left; joining again is refused.',
  },
  RATE_LIMITED: {
    category: 'flow',
    retryable: true,
    description:
      'More frames per second than `framesPerSecond` allows. The frame was dropped; retry after `retryAfterMs`.',
  },
  UNAVAILABLE: {
    category: 'server',
    retryable: true,
    description:
      'The store could not commit or read right now. Nothing was stored; resend with the same `clientMsgId`.',
  },
  SHUTTING_DOWN: {
    category: 'server',
    retryable: true,
    description: 'This server is shutting down and takes no new work; reconnect (to another node) and resend.',
  },
  INTERNAL: {
    category: 'server',
    retryable: true,
    description: 'An unexpected server error. It has been logged; resending with the same `clientMsgId` is safe.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/** What a client should do when the connection closes with a code. */
export type CloseAction =
  /** Do not reconnect: something must change first (credentials, permissions, the client's code). */
  | 'stop'
  /** Reconnect with backoff. */
  | 'reconnect'
  /** Get a fresh token, then reconnect. */
  | 'refresh-token';

export interface CloseCodeInfo {
  readonly code: number;
  readonly action: CloseAction;
  readonly description: string;
}

/**
 * WebSocket close codes. Our own codes are grouped by range so that a client that meets a code it does not know
 * still knows what to do:
 *
 * - `4000–4099` stop: do not reconnect until something changes.
 * - `4100–4199` refresh the token, then reconnect.
 * - `4200–4299` reconnect with backoff.
 *
 * The standard codes 1000 (normal), 1001 (going away: server shutdown), 1009 (frame over the hard size cap) and
 * 1011 (internal error) are also used, with the actions below. Other standard codes that say the client broke the
 * WebSocket protocol (1002, 1003, 1007, 1008, 1010) mean stop: reconnecting would only break it again. Any other
 * code, 1006 (the connection dropped without a close frame) included, means reconnect.
 */
export const CLOSE_CODES = {
  NORMAL: { code: 1000, action: 'stop', description: 'Closed on request.' },
  GOING_AWAY: {
    code: 1001,
    action: 'reconnect',
    description: 'The server is shutting down; reconnect, through the load balancer, to another node.',
  },
  MESSAGE_TOO_BIG: {
    code: 1009,
    action: 'stop',
    description: 'A frame exceeded the hard size cap (twice `maxFrameBytes`); the client is sending what it must not.',
  },
  INTERNAL_ERROR: { code: 1011, action: 'reconnect', description: 'An unexpected server error.' },
  PROTOCOL_VIOLATION: {
    code: 4000,
    action: 'stop',
    description: 'The client broke the protocol in a way that cannot be answered frame by frame.',
  },
  UNAUTHENTICATED: {
    code: 4001,
    action: 'stop',
    description:
      'A valid frame other than `auth` came before authentication, or the token was invalid. Fix the credentials first.',
  },
  FORBIDDEN: { code: 4003, action: 'stop', description: 'The account may not connect (for example, it is disabled).' },
  LOGGED_OUT: {
    code: 4005,
    action: 'stop',
    description: 'The user logged out, or the login session was revoked, on this or another device. Log in again.',
  },
  IDLE_TIMEOUT: {
    code: 4004,
    action: 'stop',
    description:
      'No user activity (join, leave, send, typing, history) for the idle timeout, 1 hour by default; heartbeats and token refreshes do not count. Reconnect when the user acts again.',
  },
  TOKEN_EXPIRED: {
    code: 4101,
    action: 'refresh-token',
    description: 'The token expired and no fresh one arrived in time. Get a new token and reconnect.',
  },
  SLOW_CONSUMER: {
    code: 4200,
    action: 'reconnect',
    description:
      'The client read too slowly and its outbound queue passed the byte cap. Reconnect and rejoin with `since` to resume.',
  },
  HEARTBEAT_TIMEOUT: {
    code: 4201,
    action: 'reconnect',
    description: 'Nothing was heard from the client for two heartbeat intervals.',
  },
  AUTH_TIMEOUT: {
    code: 4202,
    action: 'reconnect',
    description: 'No `auth` frame arrived within the authentication timeout after connecting.',
  },
  FLOODING: {
    code: 4203,
    action: 'reconnect',
    description: 'The client kept sending far past the rate limit after being told to slow down.',
  },
} as const satisfies Record<string, CloseCodeInfo>;

export type CloseCodeName = keyof typeof CLOSE_CODES;

/** What a client should do after a close with this code, including codes it does not know (by range). */
const STANDARD_STOP_CODES = new Set([1002, 1003, 1007, 1008, 1010]);

export function closeAction(code: number): CloseAction {
  for (const info of Object.values(CLOSE_CODES)) if (info.code === code) return info.action;
  if (STANDARD_STOP_CODES.has(code)) return 'stop';
  if (code >= 4000 && code < 4100) return 'stop';
  if (code >= 4100 && code < 4200) return 'refresh-token';
  return 'reconnect';
}
