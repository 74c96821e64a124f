/**
 * Runtime validation of every inbound client frame. The input is whatever a codec decoded from hostile bytes; the
 * output is either a well-typed frame built afresh (unknown fields dropped) or an error code with a message that
 * names the offending field.
 */
import type { ErrorCode } from './codes.js';
import type { ClientFrame, ClientFrameType } from './frames.js';
import { DEFAULT_LIMITS, type Limits, MAX_CONVERSATION_ID_LENGTH, MAX_REQUEST_ID, MAX_TOKEN_LENGTH } from './limits.js';

export type ValidationResult =
  | { readonly ok: true; readonly frame: ClientFrame }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string; readonly id?: number };

const CONVERSATION_ID = /^[A-Za-z0-9_-]+$/;
const CLIENT_MSG_ID = /^[\x21-\x7e]+$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

class FieldError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function int(obj: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = own(obj, key);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new FieldError('INVALID_FIELD', `\`${key}\` must be an integer from ${min} to ${max}`);
  }
  return v;
}

function optInt(obj: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  return own(obj, key) === undefined ? undefined : int(obj, key, min, max);
}

function str(obj: Record<string, unknown>, key: string, maxLength: number, pattern?: RegExp): string {
  const v = own(obj, key);
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw new FieldError('INVALID_FIELD', `\`${key}\` must be a non-empty string of at most ${maxLength} characters`);
  }
  if (pattern && !pattern.test(v)) {
    throw new FieldError('INVALID_FIELD', `\`${key}\` has characters that are not allowed`);
  }
  return v;
}

function bool(obj: Record<string, unknown>, key: string): boolean {
  const v = own(obj, key);
  if (typeof v !== 'boolean') throw new FieldError('INVALID_FIELD', `\`${key}\` must be a boolean`);
  return v;
}

function conv(obj: Record<string, unknown>): string {
  return str(obj, 'conv', MAX_CONVERSATION_ID_LENGTH, CONVERSATION_ID);
}

/** Counts Unicode code points, stopping early once past `max`. */
function codePointsExceed(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) i++;
    if (++n > max) return true;
  }
  return false;
}

function messageText(obj: Record<string, unknown>, limits: Limits): string {
  const v = own(obj, 'text');
  if (typeof v !== 'string' || v.length === 0) {
    throw new FieldError('INVALID_FIELD', '`text` must be a non-empty string');
  }
  if (codePointsExceed(v, limits.maxTextLength)) {
    throw new FieldError('TEXT_TOO_LONG', `\`text\` is longer than ${limits.maxTextLength} characters`);
  }
  if (LONE_SURROGATE.test(v)) {
    throw new FieldError('INVALID_FIELD', '`text` is not well-formed Unicode (lone surrogate)');
  }
  return v;
}

type Parser = (obj: Record<string, unknown>, limits: Limits) => ClientFrame;

const PARSERS: Readonly<Record<ClientFrameType, Parser>> = {
  auth: (o) => ({ type: 'auth', id: optInt(o, 'id', 0, MAX_REQUEST_ID), token: str(o, 'token', MAX_TOKEN_LENGTH) }),
  join: (o) => ({
    type: 'join',
    id: int(o, 'id', 0, MAX_REQUEST_ID),
    conv: conv(o),
    since: optInt(o, 'since', 0, Number.MAX_SAFE_INTEGER),
  }),
  leave: (o) => ({ type: 'leave', id: int(o, 'id', 0, MAX_REQUEST_ID), conv: conv(o) }),
  send: (o, limits) => ({
    type: 'send',
    id: int(o, 'id', 0, MAX_REQUEST_ID),
    conv: conv(o),
    clientMsgId: str(o, 'clientMsgId', limits.maxClientMsgIdLength, CLIENT_MSG_ID),
    text: messageText(o, limits),
  }),
  typing: (o) => ({ type: 'typing', conv: conv(o), active: bool(o, 'active') }),
  history: (o, limits) => ({
    type: 'history',
    id: int(o, 'id', 0, MAX_REQUEST_ID),
    conv: conv(o),
    before: optInt(o, 'before', 1, Number.MAX_SAFE_INTEGER),
    limit: optInt(o, 'limit', 1, limits.maxHistoryPage),
  }),
  ping: (o) => ({ type: 'ping', id: optInt(o, 'id', 0, MAX_REQUEST_ID) }),
  pong: (o) => ({ type: 'pong', id: optInt(o, 'id', 0, MAX_REQUEST_ID) }),
  admit: (o) => ({ type: 'admit', id: int(o, 'id', 0, MAX_REQUEST_ID), conv: conv(o) }),
  end: (o) => ({ type: 'end', id: int(o, 'id', 0, MAX_REQUEST_ID), conv: conv(o) }),
};

/** Validates a decoded value as a client frame. Never throws. */
export function validateClientFrame(value: unknown, limits: Limits = DEFAULT_LIMITS): ValidationResult {
  if (!isRecord(value)) return { ok: false, code: 'BAD_FRAME', message: 'a frame must be a map/object' };
  const type = own(value, 'type');
  if (typeof type !== 'string') return { ok: false, code: 'BAD_FRAME', message: 'a frame must have a string `type`' };
  const rawId = own(value, 'id');
  const id =
    typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0 && rawId <= MAX_REQUEST_ID
      ? rawId
      : undefined;
  if (!Object.prototype.hasOwnProperty.call(PARSERS, type)) {
    // The message is sent back to the client: cutting the type may split a surrogate pair, and the type may hold lone
    // surrogates, which msgpack would have to write as invalid UTF-8. Replace them.
    const shown = type.slice(0, 32).replace(LONE_SURROGATES, '\uFFFD');
    return { ok: false, code: 'UNKNOWN_TYPE', message: `unknown frame type \`${shown}\``, id };
  }
  try {
    const frame = PARSERS[type as ClientFrameType](value, limits);
    return { ok: true, frame: stripUndefined(frame) };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, code: err.code, message: `${type}: ${err.message}`, id };
    return { ok: false, code: 'BAD_FRAME', message: `${type}: could not be read`, id };
  }
}

function stripUndefined<T extends object>(frame: T): T {
  for (const key of Object.keys(frame) as (keyof T)[]) if (frame[key] === undefined) delete frame[key];
  return frame;
}
