/**
 * Audit events in and out of storage: validation of what callers record, and the flat row every sink stores. The
 * rules here are what keeps sensitive content out of the log: ids and reasons have narrow formats with no room for a
 * sentence, and the only free text (the User-Agent) is cleaned and capped.
 */
import net from 'node:net';
import { ROLES, type Role } from '@therapy-chat/protocol';
import {
  AUDIT_ACTIONS,
  AUDIT_OUTCOMES,
  AUDIT_RESOURCE_TYPES,
  type AuditAction,
  type AuditActor,
  type AuditEvent,
  type AuditEventInput,
  type AuditOutcome,
  type AuditResourceType,
} from './audit-sink.js';

/** Longest `device` (User-Agent) kept, in UTF-16 code units; the rest is cut. */
export const MAX_DEVICE_CHARS = 256;
/** Longest `reason` code. */
export const MAX_REASON_CHARS = 96;

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const RESOURCE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
// The same grammar as the risk screen's codes (RISK_CODE_FORMAT), so `matched@classifier` is a reason as it is.
const REASON = /^[a-z0-9]+(?:[._:@-][a-z0-9]+)*$/;
const HASH = /^[0-9a-f]{64}$/;
// C0 and C1 controls, and lone surrogates (which would be stored as U+FFFD and no longer match their hash).
const UNSAFE_CHARS =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Actor columns for the two actors that are not users. */
const NON_USER_ACTORS: ReadonlySet<string> = new Set(['system', 'anonymous']);

/** An event a caller tried to record is not well formed. A bug in the caller: nothing of its batch is written. */
export class AuditEventError extends Error {
  override readonly name = 'AuditEventError';
}

/**
 * One stored event, flat, as every sink keeps it (columns of `audit_events`, camel-cased). The hash is computed over
 * exactly these values, so what is stored is what is hashed. Typed loosely on purpose: verification reads rows that
 * may have been tampered with.
 */
export interface AuditRecord {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly time: number;
  /** `null` for `system` and `anonymous`. */
  readonly actorId: string | null;
  /** A role, or `system` / `anonymous`. */
  readonly actorRole: string;
  readonly action: string;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly outcome: string;
  readonly reason: string | null;
  readonly ip: string | null;
  readonly device: string | null;
}

/** An event's content without its place in the chain. */
export type AuditContent = Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>;

function oneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

function fail(message: string): never {
  throw new AuditEventError(`audit event rejected: ${message}`);
}

/** Cleans a User-Agent: control characters and lone surrogates become U+FFFD, cut to `MAX_DEVICE_CHARS`. */
export function cleanDevice(device: string | null | undefined): string | null {
  if (device === undefined || device === null) return null;
  if (typeof device !== 'string') fail('device must be a string');
  let d = device.replace(UNSAFE_CHARS, '\uFFFD');
  if (d.length > MAX_DEVICE_CHARS) {
    d = d.slice(0, MAX_DEVICE_CHARS);
    // Do not leave half of a surrogate pair at the cut.
    if (/[\uD800-\uDBFF]$/.test(d)) d = d.slice(0, -1);
  }
  return d === '' ? null : d;
}

/**
 * Validates what a caller records and flattens it to stored columns. Synchronous and cheap: it runs on the hot path.
 * @throws AuditEventError when a field is missing, of the wrong type, or outside its format.
 */
export function toAuditContent(e: AuditEventInput): AuditContent {
  if (typeof e !== 'object' || e === null) fail('not an object');
  let actorId: string | null;
  let actorRole: string;
  const actor: unknown = e.actor;
  if (actor === 'system' || actor === 'anonymous') {
    actorId = null;
    actorRole = actor;
  } else if (typeof actor === 'object' && actor !== null) {
    const { userId, role } = actor as { userId?: unknown; role?: unknown };
    if (typeof userId !== 'string' || !USER_ID.test(userId)) fail('actor.userId must be 1–64 of A–Z a–z 0–9 _ -');
    if (!oneOf(ROLES, role)) fail(`actor.role must be one of ${ROLES.join(', ')}`);
    actorId = userId;
    actorRole = role;
  } else {
    fail("actor must be { userId, role }, 'system' or 'anonymous'");
  }
  if (!oneOf(AUDIT_ACTIONS, e.action)) fail(`unknown action ${JSON.stringify(e.action)}`);
  if (!oneOf(AUDIT_OUTCOMES, e.outcome)) fail(`outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  let resourceType: string | null = null;
  let resourceId: string | null = null;
  if (e.resource !== undefined && e.resource !== null) {
    if (!oneOf(AUDIT_RESOURCE_TYPES, e.resource.type))
      fail(`resource.type must be one of ${AUDIT_RESOURCE_TYPES.join(', ')}`);
    if (typeof e.resource.id !== 'string' || !RESOURCE_ID.test(e.resource.id))
      fail('resource.id must be 1–128 of A–Z a–z 0–9 _ . : -');
    resourceType = e.resource.type;
    resourceId = e.resource.id;
  }
  const reason = e.reason ?? null;
  if (reason !== null && (typeof reason !== 'string' || reason.length > MAX_REASON_CHARS || !REASON.test(reason)))
    fail(`reason must be a short code (a–z 0–9 words joined by . - _ : @, at most ${MAX_REASON_CHARS} characters)`);
  if (!Number.isSafeInteger(e.time) || e.time < 0) fail('time must be whole milliseconds since the epoch');
  const ip = e.ip ?? null;
  if (ip !== null && (typeof ip !== 'string' || ip.length > 64 || net.isIP(ip) === 0))
    fail('ip must be an IPv4 or IPv6 address, or null');
  return {
    time: e.time,
    actorId,
    actorRole,
    action: e.action,
    resourceType,
    resourceId,
    outcome: e.outcome,
    reason,
    ip,
    device: cleanDevice(e.device),
  };
}

/** A stored record as the typed event callers read. Trusts the record: `verify()` is what checks it. */
export function fromAuditRecord(r: AuditRecord): AuditEvent {
  const actor: AuditActor = NON_USER_ACTORS.has(r.actorRole)
    ? (r.actorRole as 'system' | 'anonymous')
    : { userId: r.actorId ?? '', role: r.actorRole as Role };
  return {
    seq: r.seq,
    prevHash: r.prevHash,
    hash: r.hash,
    actor,
    action: r.action as AuditAction,
    resource: r.resourceType === null ? null : { type: r.resourceType as AuditResourceType, id: r.resourceId ?? '' },
    outcome: r.outcome as AuditOutcome,
    reason: r.reason,
    time: r.time,
    ip: r.ip,
    device: r.device,
  };
}

const nullOr = (v: unknown, test: (s: string) => boolean): boolean => v === null || (typeof v === 'string' && test(v));

/**
 * Whether a stored record could have been written by a sink: every value of its type and inside its set. Used by
 * verification after the hash check, so it only fires for a row re-hashed by someone who knew the scheme.
 */
export function isWellFormedRecord(r: AuditRecord): boolean {
  const userActor = oneOf(ROLES, r.actorRole);
  return (
    Number.isSafeInteger(r.seq) &&
    r.seq >= 1 &&
    typeof r.prevHash === 'string' &&
    HASH.test(r.prevHash) &&
    typeof r.hash === 'string' &&
    HASH.test(r.hash) &&
    Number.isSafeInteger(r.time) &&
    r.time >= 0 &&
    (userActor || NON_USER_ACTORS.has(r.actorRole)) &&
    (userActor ? typeof r.actorId === 'string' && USER_ID.test(r.actorId) : r.actorId === null) &&
    oneOf(AUDIT_ACTIONS, r.action) &&
    oneOf(AUDIT_OUTCOMES, r.outcome) &&
    (r.resourceType === null
      ? r.resourceId === null
      : oneOf(AUDIT_RESOURCE_TYPES, r.resourceType) &&
        typeof r.resourceId === 'string' &&
        RESOURCE_ID.test(r.resourceId)) &&
    nullOr(r.reason, (s) => s.length <= MAX_REASON_CHARS && REASON.test(s)) &&
    nullOr(r.ip, (s) => net.isIP(s) !== 0) &&
    nullOr(r.device, (s) => s !== '' && s.length <= MAX_DEVICE_CHARS && cleanDevice(s) === s)
  );
}

/** Whether a value looks like a chain hash (64 lower-case hex digits). */
export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH.test(value);
}
