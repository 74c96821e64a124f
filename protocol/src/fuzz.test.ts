/**
 * Property-based fuzz tests of the wire protocol: the codecs and `validateClientFrame` fed hostile input.
 *
 * Runs per property come from the FUZZ_RUNS environment variable. The default, 200, keeps an ordinary `vitest run`
 * to a few seconds (the three nesting properties, whose every input is tens of kilobytes, run a quarter of FUZZ_RUNS);
 * for a real fuzzing session raise it, e.g.
 *
 *     FUZZ_RUNS=100000 npx vitest run protocol/src/fuzz.test.ts
 *
 * (test timeouts grow with FUZZ_RUNS). A failure prints fast-check's seed and path; FUZZ_SEED=<seed> replays that
 * seed.
 *
 * What is checked:
 *   (a) random bytes → msgpack decode → validate: decode throws nothing but DecodeError, nothing takes long, validate
 *       never throws and agrees with an independent oracle (so it returns ok or a known error code);
 *   (b) every truncation of every valid encoded frame is a DecodeError (both codecs), and the whole one round-trips;
 *   (c) msgpack nested too deep (0x91… prefixes) is a DecodeError; any nesting is harmless for both codecs;
 *   (d) well-typed but wrong frames (a valid `type`, arbitrary field values): validate returns ok exactly when the
 *       fields satisfy the rules, as judged by an oracle written from the protocol's documentation, not from
 *       validate.ts; also after a trip through each codec;
 *   (e) the same as (a) for the JSON codec, with random strings, random JSON and mutated frames.
 * After every failed decode, each codec must still decode a known frame correctly (msgpackr keeps module state).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Codec, DecodeError, jsonCodec, msgpackCodec } from './codec.js';
import { ERROR_CODES, type ErrorCode, isErrorCode } from './codes.js';
import { APPOINTMENT_STATUSES, type ClientFrame, ROLES, type SendFrame, type ServerFrame } from './frames.js';
import { DEFAULT_LIMITS, type Limits, MAX_CONVERSATION_ID_LENGTH, MAX_REQUEST_ID, MAX_TOKEN_LENGTH } from './limits.js';
import { validateClientFrame, type ValidationResult } from './validate.js';

const FUZZ_RUNS = positiveInt(process.env.FUZZ_RUNS) ?? 200;
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
if (FUZZ_SEED !== undefined && !Number.isSafeInteger(FUZZ_SEED)) throw new Error('FUZZ_SEED must be an integer');
const PARAMS: fc.Parameters<unknown> = { numRuns: FUZZ_RUNS, ...(FUZZ_SEED === undefined ? {} : { seed: FUZZ_SEED }) };
/** Per test: generous, and growing with FUZZ_RUNS. */
const TIMEOUT_MS = Math.max(20_000, FUZZ_RUNS * 100);
/** No single input may take this long to decode and validate; real cost is well under a millisecond. */
const SLOW_MS = 1_000;

function positiveInt(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** `share` scales the runs down for properties whose every input is large (tens of kilobytes). */
function assertProperty<T>(arb: fc.Arbitrary<T>, predicate: (value: T) => void, share = 1): void {
  const numRuns = Math.max(1, Math.ceil(FUZZ_RUNS * share));
  fc.assert(fc.property(arb, predicate), { ...PARAMS, numRuns } as fc.Parameters<[T]>);
}
/** The nesting properties build inputs of 20–200 KB and overflow the stack each time: a quarter of the runs. */
const NESTING_SHARE = 0.25;

// ---------------------------------------------------------------- the oracle

/**
 * What validation must answer, written from the protocol's documentation (frames.ts, limits.ts and the codes), not
 * from validate.ts. A frame is a map with a string `type`; each type's fields are listed with their rules; unknown
 * fields are dropped; an optional field may be absent or undefined.
 */
type Failure = { readonly code: ErrorCode; readonly field?: string };
type Expected =
  | { readonly ok: true; readonly frame: Record<string, unknown> }
  | { readonly ok: false; readonly failures: readonly Failure[]; readonly id?: number; readonly checkId: boolean };
type Check = (value: unknown, limits: Limits) => readonly ErrorCode[] | null; // null: valid; else the codes allowed
interface Field {
  readonly name: string;
  readonly optional: boolean;
  readonly check: Check;
}

const hasOwn = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isIntIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}
function everyChar(s: string, ok: (c: number) => boolean): boolean {
  for (let i = 0; i < s.length; i++) if (!ok(s.charCodeAt(i))) return false;
  return true;
}
const isConversationIdChar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d;
const isPrintableAscii = (c: number): boolean => c >= 0x21 && c <= 0x7e;
function isWellFormed(s: string): boolean {
  try {
    encodeURIComponent(s); // throws URIError on a lone surrogate
    return true;
  } catch {
    return false;
  }
}

const INVALID: readonly ErrorCode[] = ['INVALID_FIELD'];
const int =
  (min: number, max: (l: Limits) => number): Check =>
  (v, l) =>
    isIntIn(v, min, max(l)) ? null : INVALID;
const nonEmptyString =
  (maxLength: (l: Limits) => number, charOk?: (c: number) => boolean): Check =>
  (v, l) =>
    typeof v === 'string' && v.length >= 1 && v.length <= maxLength(l) && (!charOk || everyChar(v, charOk))
      ? null
      : INVALID;
const messageText: Check = (v, l) => {
  if (typeof v !== 'string' || v.length === 0) return INVALID;
  const codePoints = [...v].length; // a lone surrogate counts as one
  if (isWellFormed(v)) return codePoints > l.maxTextLength ? ['TEXT_TOO_LONG'] : null;
  // Ill-formed and long: both answers are right.
  return codePoints > l.maxTextLength ? ['INVALID_FIELD', 'TEXT_TOO_LONG'] : INVALID;
};

const id = (optional: boolean): Field => ({ name: 'id', optional, check: int(0, () => MAX_REQUEST_ID) });
const conv: Field = {
  name: 'conv',
  optional: false,
  check: nonEmptyString(() => MAX_CONVERSATION_ID_LENGTH, isConversationIdChar),
};
const SPEC = new Map<string, readonly Field[]>([
  ['auth', [id(true), { name: 'token', optional: false, check: nonEmptyString(() => MAX_TOKEN_LENGTH) }]],
  ['join', [id(false), conv, { name: 'since', optional: true, check: int(0, () => Number.MAX_SAFE_INTEGER) }]],
  ['leave', [id(false), conv]],
  [
    'send',
    [
      id(false),
      conv,
      { name: 'clientMsgId', optional: false, check: nonEmptyString((l) => l.maxClientMsgIdLength, isPrintableAscii) },
      { name: 'text', optional: false, check: messageText },
    ],
  ],
  ['typing', [conv, { name: 'active', optional: false, check: (v) => (typeof v === 'boolean' ? null : INVALID) }]],
  [
    'history',
    [
      id(false),
      conv,
      { name: 'before', optional: true, check: int(1, () => Number.MAX_SAFE_INTEGER) },
      { name: 'limit', optional: true, check: int(1, (l) => l.maxHistoryPage) },
    ],
  ],
  ['ping', [id(true)]],
  ['pong', [id(true)]],
  ['admit', [id(false), conv]],
  ['end', [id(false), conv]],
]);
const CLIENT_TYPES = [...SPEC.keys()];
const FIELD_NAMES = [...new Set([...SPEC.values()].flat().map((f) => f.name))];

function oracle(value: unknown, limits: Limits): Expected {
  const bad: Expected = { ok: false, failures: [{ code: 'BAD_FRAME' }], checkId: false };
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return bad;
  const obj = value as Record<string, unknown>;
  const type = hasOwn(obj, 'type') ? obj.type : undefined;
  if (typeof type !== 'string') return bad;
  const rawId = hasOwn(obj, 'id') ? obj.id : undefined;
  const requestId = isIntIn(rawId, 0, MAX_REQUEST_ID) ? rawId : undefined;
  const fields = SPEC.get(type);
  if (!fields) return { ok: false, failures: [{ code: 'UNKNOWN_TYPE' }], id: requestId, checkId: true };
  const failures: Failure[] = [];
  const frame: Record<string, unknown> = { type };
  for (const field of fields) {
    const v = hasOwn(obj, field.name) ? obj[field.name] : undefined;
    if (field.optional && v === undefined) continue;
    const codes = field.check(v, limits);
    if (codes) for (const code of codes) failures.push({ code, field: field.name });
    else frame[field.name] = v;
  }
  return failures.length > 0 ? { ok: false, failures, id: requestId, checkId: true } : { ok: true, frame };
}

function show(value: unknown): string {
  try {
    const s = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    return s === undefined ? String(value) : s.slice(0, 300);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Validates `value` and checks the answer against the oracle. */
function checkValidation(value: unknown, limits: Limits = DEFAULT_LIMITS): ValidationResult {
  let result: ValidationResult;
  try {
    result = validateClientFrame(value, limits);
  } catch (err) {
    throw new Error(`validateClientFrame threw ${String(err)} for ${show(value)}`, { cause: err });
  }
  const expected = oracle(value, limits);
  const fail = (why: string): never => {
    throw new Error(`${why}\n  value: ${show(value)}\n  result: ${show(result)}\n  expected: ${show(expected)}`);
  };
  if (expected.ok) {
    try {
      expect(result).toStrictEqual({ ok: true, frame: expected.frame });
    } catch (err) {
      fail(`validation should accept: ${(err as Error).message}`);
    }
    return result;
  }
  if (result.ok) return fail('validation accepted an invalid frame');
  if (!isErrorCode(result.code)) fail('unknown error code');
  const { code, message } = result;
  const explained = expected.failures.some(
    (f) => f.code === code && (f.field === undefined || message.includes(`\`${f.field}\``)),
  );
  if (!explained) fail('wrong error code, or a message that does not name the failing field');
  if (expected.checkId && !Object.is(result.id, expected.id)) fail('wrong `id` on the error');
  if (message.length === 0 || message.length > 200) fail('empty or overlong message');
  if (LONE_SURROGATE.test(message)) fail('error message is not well-formed Unicode');
  return result;
}

// ---------------------------------------------------------------- decoding helpers

const probe: SendFrame = { type: 'send', id: 77, conv: 'probe_conv', clientMsgId: 'probe-1', text: 'probe ✓ 😀' };
const probeEncoded = new Map<Codec, Uint8Array | string>([
  [msgpackCodec, msgpackCodec.encode(probe)],
  [jsonCodec, jsonCodec.encode(probe)],
]);

/** Decodes; returns `{ ok: false }` on DecodeError, fails on anything else thrown or on a slow decode. */
function decodeOrDecodeError(codec: Codec, data: Uint8Array | string): { ok: true; value: unknown } | { ok: false } {
  const started = performance.now();
  let outcome: { ok: true; value: unknown } | { ok: false };
  try {
    outcome = { ok: true, value: codec.decode(data) };
  } catch (err) {
    if (!(err instanceof DecodeError)) {
      throw new Error(`${codec.subprotocol} decode threw a non-DecodeError: ${String(err)}`, { cause: err });
    }
    // The message goes back to the client in a BAD_FRAME error frame.
    if (err.message.length > 200 || LONE_SURROGATE.test(err.message)) {
      throw new Error(
        `${codec.subprotocol}: DecodeError message overlong or ill-formed: ${JSON.stringify(err.message)}`,
        { cause: err },
      );
    }
    outcome = { ok: false };
  }
  const ms = performance.now() - started;
  if (ms > SLOW_MS) throw new Error(`${codec.subprotocol} decode took ${ms.toFixed(0)} ms`);
  return outcome;
}

/** After anything, the codec still decodes a known frame correctly. */
function expectCodecHealthy(codec: Codec): void {
  const decoded = codec.decode(probeEncoded.get(codec)!);
  if (!sameProbe(decoded)) throw new Error(`${codec.subprotocol} decoded the probe frame as ${show(decoded)}`);
}
function sameProbe(v: unknown): boolean {
  const o = v as Record<string, unknown> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    Object.keys(o).length === 5 &&
    o.type === probe.type &&
    o.id === probe.id &&
    o.conv === probe.conv &&
    o.clientMsgId === probe.clientMsgId &&
    o.text === probe.text
  );
}

/** Decode, then (if it decoded) validate against the oracle, then check the codec is still sound. */
function fuzzOne(codec: Codec, data: Uint8Array | string, limits: Limits = DEFAULT_LIMITS): void {
  const started = performance.now();
  const decoded = decodeOrDecodeError(codec, data);
  if (decoded.ok) checkValidation(decoded.value, limits);
  const ms = performance.now() - started;
  if (ms > SLOW_MS) throw new Error(`decode + validate took ${ms.toFixed(0)} ms`);
  expectCodecHealthy(codec);
}

function concat(...parts: (Uint8Array | readonly number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

// ---------------------------------------------------------------- arbitraries

const printableAscii = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
/** Any UTF-16 code unit, lone surrogates included. */
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const trickyUnit = fc.constantFrom(
  '😀',
  '\uD800',
  '\uDC00',
  '\uD83D',
  '\uDE00',
  ' ',
  '-',
  '_',
  '\u0000',
  '\u007f',
  'é',
  '\u200B',
);
const anyUnit = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
  utf16Unit,
  trickyUnit,
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const anyString = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: anyUnit, maxLength });

/** Values of every JavaScript kind a decoder or a careless client could produce. */
const junk: fc.Arbitrary<unknown> = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  stringUnit: 'binary',
});

const badNumbers = fc.constantFrom(
  -1,
  -0,
  0.5,
  1.5,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  2 ** 53 + 2,
  MAX_REQUEST_ID,
  MAX_REQUEST_ID + 1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MIN_VALUE,
  '1',
  null,
  true,
);
const integerish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -2, max: 130 }) }, // straddles 0, 1, small custom limits and 100
  { weight: 3, arbitrary: fc.integer({ min: 0, max: MAX_REQUEST_ID }) },
  { weight: 2, arbitrary: badNumbers },
  { weight: 1, arbitrary: fc.maxSafeInteger() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: junk },
);
const convish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', 'a'.repeat(64), 'a'.repeat(65), '__proto__', 'constructor', 'a b', 'c\n', 'é'),
  },
  { weight: 1, arbitrary: anyString(70) },
  { weight: 1, arbitrary: junk },
);
const clientMsgIdish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: printableAscii, minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(64), 'x'.repeat(65), 'a b', '\u007f', 'ü') },
  { weight: 1, arbitrary: anyString(20) },
  { weight: 1, arbitrary: junk },
);
const textish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 14 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 14 }) },
  { weight: 2, arbitrary: anyString(16) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'a'.repeat(DEFAULT_LIMITS.maxTextLength),
      'a'.repeat(DEFAULT_LIMITS.maxTextLength + 1),
      '😀'.repeat(DEFAULT_LIMITS.maxTextLength),
      '😀'.repeat(DEFAULT_LIMITS.maxTextLength + 1),
      `${'😀'.repeat(DEFAULT_LIMITS.maxTextLength - 1)}\uD800`,
      '\uD800'.repeat(DEFAULT_LIMITS.maxTextLength + 1),
      `${'\uD83Da'.repeat(DEFAULT_LIMITS.maxTextLength)}`,
    ),
  },
  { weight: 1, arbitrary: junk },
);
const tokenish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(MAX_TOKEN_LENGTH), 'x'.repeat(MAX_TOKEN_LENGTH + 1)) },
  { weight: 1, arbitrary: anyString(40) },
  { weight: 1, arbitrary: junk },
);
const boolish: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 'true', 'false', null) },
  { weight: 1, arbitrary: junk },
);
const FIELD_ARBS: Record<string, fc.Arbitrary<unknown>> = {
  id: integerish,
  since: integerish,
  before: integerish,
  limit: integerish,
  conv: convish,
  clientMsgId: clientMsgIdish,
  text: textish,
  token: tokenish,
  active: boolish,
};

const ABSENT = Symbol('absent');
const maybe = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 9, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(ABSENT) });

/** Small limits half the time, so that length and page boundaries are hit often. */
const limitsArb: fc.Arbitrary<Limits> = fc.oneof(
  fc.constant(DEFAULT_LIMITS),
  fc
    .record({
      maxTextLength: fc.integer({ min: 1, max: 12 }),
      maxClientMsgIdLength: fc.integer({ min: 1, max: 10 }),
      maxHistoryPage: fc.integer({ min: 1, max: 20 }),
    })
    .map((l): Limits => ({ ...DEFAULT_LIMITS, ...l })),
);

/** A map with a valid client `type`, its fields drawn from valid, boundary and junk values, plus stray members. */
const wellTypedFrame: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    type: fc.constantFrom(...CLIENT_TYPES),
    fields: fc.record(Object.fromEntries(FIELD_NAMES.map((name) => [name, maybe(FIELD_ARBS[name]!)]))),
    stray: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom(...FIELD_NAMES, '__proto__')), junk, { maxKeys: 3 }),
    // now and then, some fields sit on the prototype instead: they must not count
    inherited: fc.oneof(
      { weight: 5, arbitrary: fc.constant<string[]>([]) },
      { weight: 1, arbitrary: fc.subarray(FIELD_NAMES, { minLength: 1, maxLength: 2 }) },
    ),
  })
  .map(({ type, fields, stray, inherited }) => {
    const proto: Record<string, unknown> = {};
    const out = (inherited.length > 0 ? Object.create(proto) : {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(stray))
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    for (const [k, v] of Object.entries(fields)) {
      if (v === ABSENT) continue;
      if (inherited.includes(k)) {
        proto[k] = v;
        delete out[k];
      } else out[k] = v;
    }
    out.type = type;
    return out;
  });

const idArb = fc.integer({ min: 0, max: MAX_REQUEST_ID });
const convArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const clientMsgIdArb = fc.string({
  unit: printableAscii,
  minLength: 1,
  maxLength: DEFAULT_LIMITS.maxClientMsgIdLength,
});
const textArb = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
);
const posSafe = fc.maxSafeNat().filter((n) => n >= 1);
const role = fc.constantFrom(...ROLES);
const chatMessage = fc.record(
  {
    conv: convArb,
    seq: posSafe,
    from: fc.string({ minLength: 1, maxLength: 20 }),
    role,
    clientMsgId: clientMsgIdArb,
    text: textArb,
    ts: fc.maxSafeNat(),
  },
  { noNullPrototype: true },
);

const validClientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record(
    { type: fc.constant('auth'), id: idArb, token: fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }) },
    { requiredKeys: ['type', 'token'], noNullPrototype: true },
  ),
  fc.record(
    { type: fc.constant('join'), id: idArb, conv: convArb, since: fc.maxSafeNat() },
    { requiredKeys: ['type', 'id', 'conv'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('leave'), id: idArb, conv: convArb }, { noNullPrototype: true }),
  fc.record(
    { type: fc.constant('send'), id: idArb, conv: convArb, clientMsgId: clientMsgIdArb, text: textArb },
    { noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('typing'), conv: convArb, active: fc.boolean() }, { noNullPrototype: true }),
  fc.record(
    {
      type: fc.constant('history'),
      id: idArb,
      conv: convArb,
      before: posSafe,
      limit: fc.integer({ min: 1, max: DEFAULT_LIMITS.maxHistoryPage }),
    },
    { requiredKeys: ['type', 'id', 'conv'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('ping'), id: idArb }, { requiredKeys: ['type'], noNullPrototype: true }),
  fc.record({ type: fc.constant('pong'), id: idArb }, { requiredKeys: ['type'], noNullPrototype: true }),
  fc.record({ type: fc.constant('admit'), id: idArb, conv: convArb }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('end'), id: idArb, conv: convArb }, { noNullPrototype: true }),
);

const validServerFrame: fc.Arbitrary<ServerFrame> = fc.oneof(
  fc.record(
    {
      type: fc.constant('welcome'),
      id: idArb,
      user: fc.string({ minLength: 1 }),
      role,
      connectionId: fc.string({ minLength: 1 }),
      expiresAt: fc.maxSafeNat(),
      heartbeatMs: fc.integer({ min: 1, max: 600_000 }),
      limits: limitsArb,
      serverTime: fc.maxSafeNat(),
    },
    {
      requiredKeys: ['type', 'user', 'role', 'connectionId', 'expiresAt', 'heartbeatMs', 'limits', 'serverTime'],
      noNullPrototype: true,
    },
  ),
  fc.record(
    {
      type: fc.constant('joined'),
      id: idArb,
      conv: convArb,
      lastSeq: fc.maxSafeNat(),
      closed: fc.boolean(),
      appointmentStatus: fc.constantFrom(...APPOINTMENT_STATUSES),
    },
    { requiredKeys: ['type', 'id', 'conv', 'lastSeq', 'closed'], noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('appointment'),
      id: idArb,
      conv: convArb,
      appointmentId: fc.string({ minLength: 1, maxLength: 40 }),
      status: fc.constantFrom(...APPOINTMENT_STATUSES),
      ts: fc.maxSafeNat(),
    },
    { requiredKeys: ['type', 'conv', 'appointmentId', 'status', 'ts'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('left'), id: idArb, conv: convArb }, { noNullPrototype: true }),
  fc.record(
    {
      type: fc.constant('ack'),
      id: idArb,
      conv: convArb,
      clientMsgId: clientMsgIdArb,
      seq: posSafe,
      ts: fc.maxSafeNat(),
    },
    { noNullPrototype: true },
  ),
  chatMessage.map((m) => ({ type: 'msg' as const, ...m })),
  fc.record(
    { type: fc.constant('typing'), conv: convArb, user: fc.string({ minLength: 1 }), role, active: fc.boolean() },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('presence'),
      conv: convArb,
      members: fc.array(fc.record({ user: fc.string(), role }, { noNullPrototype: true }), { maxLength: 3 }),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('history'),
      id: idArb,
      conv: convArb,
      messages: fc.array(chatMessage, { maxLength: 2 }),
      hasMore: fc.boolean(),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('error'),
      id: idArb,
      code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
      message: fc.string({ unit: 'binary', maxLength: 80 }),
      conv: convArb,
      clientMsgId: clientMsgIdArb,
      retryAfterMs: fc.nat(),
    },
    { requiredKeys: ['type', 'code', 'message'], noNullPrototype: true },
  ),
  fc.record({ type: fc.constant('ping'), id: idArb }, { requiredKeys: ['type'], noNullPrototype: true }),
  fc.record({ type: fc.constant('pong'), id: idArb }, { requiredKeys: ['type'], noNullPrototype: true }),
);

/** Byte-level edits: overwrite, insert or delete a byte, or cut the tail. */
type Edit = { readonly op: 'set' | 'insert' | 'delete' | 'cut'; readonly at: number; readonly byte: number };
const edits = fc.array(
  fc.record(
    {
      op: fc.constantFrom<Edit['op']>('set', 'set', 'insert', 'delete', 'cut'),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    },
    { noNullPrototype: true },
  ),
  { minLength: 1, maxLength: 4 },
);
function applyEdits(bytes: Uint8Array, list: readonly Edit[]): Uint8Array {
  const out = Array.from(bytes);
  for (const e of list) {
    const at = out.length === 0 ? 0 : e.at % (out.length + (e.op === 'insert' ? 1 : 0));
    if (e.op === 'set' && out.length > 0) out[at] = e.byte;
    else if (e.op === 'insert') out.splice(at, 0, e.byte);
    else if (e.op === 'delete') out.splice(at, 1);
    else if (e.op === 'cut') out.length = at;
  }
  return Uint8Array.from(out);
}
function applyTextEdits(text: string, list: readonly Edit[]): string {
  const chars = [...text];
  const alphabet = '{}[]":,\\ 0123456789-.eEtrufalsn\uD800😀a';
  for (const e of list) {
    const at = chars.length === 0 ? 0 : e.at % (chars.length + (e.op === 'insert' ? 1 : 0));
    const ch = alphabet[e.byte % alphabet.length]!;
    if (e.op === 'set' && chars.length > 0) chars[at] = ch;
    else if (e.op === 'insert') chars.splice(at, 0, ch);
    else if (e.op === 'delete') chars.splice(at, 1);
    else if (e.op === 'cut') chars.length = at;
  }
  return chars.join('');
}

const anyFrameish: fc.Arbitrary<unknown> = fc.oneof(wellTypedFrame, validClientFrame, validServerFrame, junk);

function encodeOrUndefined(codec: Codec, value: unknown): Uint8Array | string | undefined {
  try {
    return codec.encode(value as object);
  } catch {
    return undefined; // e.g. a BigInt for JSON: not what this test is about
  }
}

// ---------------------------------------------------------------- (a) random bytes into msgpack

describe('(a) random bytes → msgpack decode → validate', () => {
  const randomBytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.uint8Array({ minLength: 64, maxLength: 4_096, size: 'max' }),
    // start as a map or an array so that decoding goes past the first byte
    fc
      .tuple(fc.integer({ min: 0x80, max: 0x9f }), fc.uint8Array({ maxLength: 512 }))
      .map(([head, rest]) => concat([head], rest)),
    // a map whose first key is `type` and whose value is random
    fc.uint8Array({ maxLength: 256 }).map((rest) => concat([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65], rest)),
  );

  it(
    'decode throws only DecodeError, is quick, leaves the codec sound; validate never throws and agrees with the oracle',
    () => {
      assertProperty(fc.tuple(randomBytes, limitsArb), ([bytes, limits]) => fuzzOne(msgpackCodec, bytes, limits));
    },
    TIMEOUT_MS,
  );

  it(
    'the same for mutated encodings of frames (valid, wrong and junk)',
    () => {
      assertProperty(fc.tuple(anyFrameish, edits, limitsArb), ([value, list, limits]) => {
        const encoded = encodeOrUndefined(msgpackCodec, value);
        if (encoded === undefined) return;
        fuzzOne(msgpackCodec, applyEdits(encoded as Uint8Array, list), limits);
      });
    },
    TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------- (b) truncations

describe('(b) truncated frames', () => {
  for (const codec of [msgpackCodec, jsonCodec]) {
    it(
      `${codec.subprotocol}: every proper prefix of an encoded frame is a DecodeError; the whole frame round-trips`,
      () => {
        assertProperty(fc.oneof(validClientFrame, validServerFrame), (frame) => {
          const encoded = codec.encode(frame);
          const bytes = typeof encoded === 'string' ? new TextEncoder().encode(encoded) : encoded;
          for (let cut = 0; cut < bytes.length; cut++) {
            if (decodeOrDecodeError(codec, bytes.subarray(0, cut)).ok) {
              throw new Error(`prefix of ${cut}/${bytes.length} bytes decoded: ${show(frame)}`);
            }
            expectCodecHealthy(codec);
          }
          if (typeof encoded === 'string') {
            for (let cut = 0; cut < encoded.length; cut++) {
              if (decodeOrDecodeError(codec, encoded.slice(0, cut)).ok) throw new Error(`text prefix ${cut} decoded`);
            }
          }
          expect(codec.decode(encoded)).toStrictEqual(frame);
        });
      },
      TIMEOUT_MS,
    );
  }

  it(
    'valid client frames survive both codecs and validate to themselves',
    () => {
      assertProperty(validClientFrame, (frame) => {
        for (const codec of [msgpackCodec, jsonCodec]) {
          expect(validateClientFrame(codec.decode(codec.encode(frame)))).toStrictEqual({ ok: true, frame });
        }
      });
    },
    TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------- (c) nesting

describe('(c) nesting', () => {
  const levelHeaders = fc.constantFrom<readonly number[]>(
    [0x91], // fixarray of 1
    [0x81, 0xa1, 0x61], // fixmap {a: …}
    [0xdc, 0x00, 0x01], // array16 of 1
    [0xde, 0x00, 0x01, 0xa1, 0x62], // map16 {b: …}
    [0x92, 0xc0], // fixarray [nil, …]
  );
  const tails = fc.constantFrom<readonly number[]>(
    [0xc0],
    [0x01],
    [0x90],
    Array.from(probeEncoded.get(msgpackCodec) as Uint8Array),
  );
  /** A frame `{type: 'ping', x: …}` around the nesting, so that a valid frame holds it. */
  const framePrefix = [0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa1, 0x78];

  function nested(header: readonly number[], depth: number, tail: readonly number[], inFrame: boolean): Uint8Array {
    const out = new Uint8Array((inFrame ? framePrefix.length : 0) + header.length * depth + tail.length);
    let at = 0;
    if (inFrame) {
      out.set(framePrefix, 0);
      at = framePrefix.length;
    }
    for (let i = 0; i < depth; i++, at += header.length) out.set(header, at);
    out.set(tail, at);
    return out;
  }

  it(
    'msgpack nested tens of thousands of levels deep (0x91… prefixes and the like) is a DecodeError',
    () => {
      assertProperty(
        fc.tuple(levelHeaders, fc.integer({ min: 20_000, max: 40_000 }), tails, fc.boolean()),
        ([header, depth, tail, inFrame]) => {
          if (decodeOrDecodeError(msgpackCodec, nested(header, depth, tail, inFrame)).ok) {
            throw new Error(`decoded ${depth} levels of ${show(header)}`);
          }
          expectCodecHealthy(msgpackCodec);
        },
        NESTING_SHARE,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'msgpack at any depth: decodes or throws DecodeError, and validation copes',
    () => {
      assertProperty(
        fc.tuple(levelHeaders, fc.integer({ min: 0, max: 30_000 }), tails, fc.boolean()),
        ([header, depth, tail, inFrame]) => fuzzOne(msgpackCodec, nested(header, depth, tail, inFrame)),
        NESTING_SHARE,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'JSON at any depth: decodes or throws DecodeError, and validation copes',
    () => {
      assertProperty(
        fc.tuple(fc.constantFrom(['[', ']'], ['{"a":', '}']), fc.integer({ min: 0, max: 30_000 }), fc.boolean()),
        ([[open, close], depth, inFrame]) => {
          const inner = `${open.repeat(depth)}1${close.repeat(depth)}`;
          fuzzOne(jsonCodec, inFrame ? `{"type":"ping","x":${inner}}` : inner);
        },
        NESTING_SHARE,
      );
    },
    TIMEOUT_MS,
  );
});

// ---------------------------------------------------------------- (d) well-typed but wrong frames

describe('(d) well-typed but wrong frames', () => {
  it(
    'validate returns ok exactly when the fields satisfy the rules, and never throws',
    () => {
      assertProperty(fc.tuple(wellTypedFrame, limitsArb), ([frame, limits]) => {
        checkValidation(frame, limits);
      });
    },
    TIMEOUT_MS,
  );

  it(
    'send frames in particular (all four fields present, each valid or not)',
    () => {
      const sendFrame = fc
        .record({ id: integerish, conv: convish, clientMsgId: clientMsgIdish, text: textish })
        .map((f) => ({ type: 'send', ...f }));
      let accepted = 0;
      assertProperty(fc.tuple(sendFrame, limitsArb), ([frame, limits]) => {
        if (checkValidation(frame, limits).ok) accepted++;
      });
      // The generators must produce valid frames too, or "ok exactly when valid" is only half tested.
      expect(accepted).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );

  it(
    'fc.anything() as a frame, or spread into one with a valid type',
    () => {
      assertProperty(
        fc.tuple(
          fc.oneof(
            junk,
            fc
              .tuple(fc.constantFrom(...CLIENT_TYPES), junk)
              .map(([type, extra]) =>
                typeof extra === 'object' && extra !== null ? { ...extra, type } : { type, id: extra },
              ),
          ),
          limitsArb,
        ),
        ([value, limits]) => {
          checkValidation(value, limits);
        },
      );
    },
    TIMEOUT_MS,
  );

  for (const codec of [msgpackCodec, jsonCodec]) {
    it(
      `after a trip through ${codec.subprotocol}, validation still agrees with the oracle`,
      () => {
        assertProperty(fc.tuple(wellTypedFrame, limitsArb), ([frame, limits]) => {
          const encoded = encodeOrUndefined(codec, frame);
          if (encoded === undefined) return;
          // Junk may not survive (msgpackr writes a Map with object keys that it cannot read back as a plain object);
          // a DecodeError is fine, anything else is not.
          const decoded = decodeOrDecodeError(codec, encoded);
          if (decoded.ok) checkValidation(decoded.value, limits);
          else if (codec === jsonCodec) throw new Error(`JSON could not decode its own encoding of ${show(frame)}`);
        });
      },
      TIMEOUT_MS,
    );
  }
});

// ---------------------------------------------------------------- (e) JSON

describe('(e) random text → JSON decode → validate', () => {
  const randomText = fc.oneof(
    anyString(200),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.json({ maxDepth: 4, stringUnit: 'binary' }),
    fc.json({ maxDepth: 2 }).map((j) => `{"type":"send",${j.slice(1)}`),
    fc.tuple(fc.oneof(wellTypedFrame, validClientFrame, validServerFrame), edits).map(([frame, list]) => {
      const text = encodeOrUndefined(jsonCodec, frame);
      return applyTextEdits(typeof text === 'string' ? text : '{}', list);
    }),
  );

  it(
    'decode throws only DecodeError, is quick, leaves the codec sound; validate agrees with the oracle',
    () => {
      assertProperty(fc.tuple(randomText, limitsArb), ([text, limits]) => fuzzOne(jsonCodec, text, limits));
    },
    TIMEOUT_MS,
  );

  it(
    'the same for random bytes, which must be valid UTF-8 first',
    () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ minLength: 64, maxLength: 4_096, size: 'max' }),
        fc
          .tuple(validClientFrame, edits)
          .map(([frame, list]) => applyEdits(new TextEncoder().encode(jsonCodec.encode(frame) as string), list)),
      );
      assertProperty(fc.tuple(bytes, limitsArb), ([data, limits]) => fuzzOne(jsonCodec, data, limits));
    },
    TIMEOUT_MS,
  );
});
