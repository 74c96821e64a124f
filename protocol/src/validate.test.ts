import { describe, expect, it } from 'vitest';
import { isErrorCode } from './codes.js';
import type { ClientFrame, ClientFrameType } from './frames.js';
import { DEFAULT_LIMITS, type Limits, MAX_CONVERSATION_ID_LENGTH, MAX_REQUEST_ID, MAX_TOKEN_LENGTH } from './limits.js';
import { validateClientFrame, type ValidationResult } from './validate.js';

/** A lone surrogate anywhere in the string (not part of a high+low pair). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function expectOk(value: unknown, expected: ClientFrame, limits?: Limits): void {
  const result = validateClientFrame(value, limits);
  expect(result).toStrictEqual({ ok: true, frame: expected });
}

function expectError(
  value: unknown,
  code: string,
  field?: string,
  limits?: Limits,
): Extract<ValidationResult, { ok: false }> {
  const result = validateClientFrame(value, limits);
  expect(result.ok).toBe(false);
  const err = result as Extract<ValidationResult, { ok: false }>;
  expect(err.code).toBe(code);
  expect(isErrorCode(err.code)).toBe(true);
  expect(typeof err.message).toBe('string');
  if (field !== undefined) expect(err.message).toContain(`\`${field}\``);
  return err;
}

// One minimal valid frame of each type, and one with every optional field.
const MINIMAL: { [K in ClientFrameType]: Extract<ClientFrame, { type: K }> } = {
  auth: { type: 'auth', token: 't' },
  join: { type: 'join', id: 1, conv: 'c' },
  leave: { type: 'leave', id: 2, conv: 'c' },
  send: { type: 'send', id: 3, conv: 'c', clientMsgId: 'm', text: 'hi' },
  typing: { type: 'typing', conv: 'c', active: true },
  history: { type: 'history', id: 4, conv: 'c' },
  ping: { type: 'ping' },
  pong: { type: 'pong' },
  admit: { type: 'admit', id: 5, conv: 'c' },
  end: { type: 'end', id: 6, conv: 'c' },
};

const FULL: { [K in ClientFrameType]: Extract<ClientFrame, { type: K }> } = {
  auth: { type: 'auth', id: 10, token: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' },
  join: { type: 'join', id: 11, conv: 'appt_2024-11-23', since: 0 },
  leave: { type: 'leave', id: 12, conv: 'Z-9_z' },
  send: { type: 'send', id: 13, conv: 'c', clientMsgId: 'msg-1!~', text: 'Hello 👋 日本語\n' },
  typing: { type: 'typing', conv: 'c', active: false },
  history: { type: 'history', id: 14, conv: 'c', before: 100, limit: 50 },
  ping: { type: 'ping', id: 15 },
  pong: { type: 'pong', id: 16 },
  admit: { type: 'admit', id: 17, conv: 'cv_appt-1' },
  end: { type: 'end', id: MAX_REQUEST_ID, conv: 'cv_appt-1' },
};

const TYPES = Object.keys(MINIMAL) as ClientFrameType[];

describe('valid frames', () => {
  it.each(TYPES)('%s: minimal and full frames are accepted as they are', (type) => {
    expectOk({ ...MINIMAL[type] }, MINIMAL[type]);
    expectOk({ ...FULL[type] }, FULL[type]);
  });

  it.each(TYPES)('%s: the frame is rebuilt without unknown fields and is a new object', (type) => {
    const input = {
      ...FULL[type],
      extra: 1,
      nested: { deep: [1, 2, 3] },
      isAdmin: true,
      role: 'admin',
      user: 'someone-else',
      seq: 7,
    };
    const result = validateClientFrame(input);
    expect(result).toStrictEqual({ ok: true, frame: FULL[type] });
    expect((result as { frame: object }).frame).not.toBe(input);
    expect(Object.keys((result as { frame: object }).frame).sort()).toEqual(Object.keys(FULL[type]).sort());
  });

  it.each(TYPES)('%s: the input is not modified (a frozen input validates)', (type) => {
    const input = Object.freeze({ ...FULL[type], extra: 'x' });
    expectOk(input, FULL[type]);
    expect(input).toStrictEqual({ ...FULL[type], extra: 'x' });
  });

  it('optional fields that are undefined are left out, not kept as undefined members', () => {
    const result = validateClientFrame({ type: 'history', id: 1, conv: 'c', before: undefined, limit: undefined });
    expect(result).toStrictEqual({ ok: true, frame: { type: 'history', id: 1, conv: 'c' } });
    expect(Object.keys((result as { frame: object }).frame)).toEqual(['type', 'id', 'conv']);
    expectOk({ type: 'ping', id: undefined }, { type: 'ping' });
    expectOk({ type: 'auth', id: undefined, token: 't' }, { type: 'auth', token: 't' });
    expectOk({ type: 'join', id: 1, conv: 'c', since: undefined }, { type: 'join', id: 1, conv: 'c' });
  });

  it('a frame with a null prototype is read like any other', () => {
    const input = Object.assign(Object.create(null) as object, { type: 'leave', id: 5, conv: 'c' });
    expectOk(input, { type: 'leave', id: 5, conv: 'c' });
  });

  it('typing ignores an `id` (typing has none)', () => {
    expectOk({ type: 'typing', id: 9, conv: 'c', active: true }, { type: 'typing', conv: 'c', active: true });
  });

  it('accepts every boundary value', () => {
    expectOk({ type: 'ping', id: 0 }, { type: 'ping', id: 0 });
    expectOk({ type: 'ping', id: MAX_REQUEST_ID }, { type: 'ping', id: MAX_REQUEST_ID });
    const longConv = 'a'.repeat(MAX_CONVERSATION_ID_LENGTH);
    expectOk({ type: 'leave', id: 1, conv: longConv }, { type: 'leave', id: 1, conv: longConv });
    const allConvChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    expectOk({ type: 'leave', id: 1, conv: allConvChars }, { type: 'leave', id: 1, conv: allConvChars });
    const token = 'x'.repeat(MAX_TOKEN_LENGTH);
    expectOk({ type: 'auth', token }, { type: 'auth', token });
    expectOk(
      { type: 'join', id: 1, conv: 'c', since: Number.MAX_SAFE_INTEGER },
      { type: 'join', id: 1, conv: 'c', since: Number.MAX_SAFE_INTEGER },
    );
    expectOk(
      { type: 'history', id: 1, conv: 'c', before: 1, limit: 1 },
      { type: 'history', id: 1, conv: 'c', before: 1, limit: 1 },
    );
    expectOk(
      { type: 'history', id: 1, conv: 'c', before: Number.MAX_SAFE_INTEGER, limit: DEFAULT_LIMITS.maxHistoryPage },
      { type: 'history', id: 1, conv: 'c', before: Number.MAX_SAFE_INTEGER, limit: DEFAULT_LIMITS.maxHistoryPage },
    );
    let printable = '';
    for (let c = 0x21; c <= 0x7e; c++) printable += String.fromCharCode(c);
    for (const clientMsgId of [
      printable.slice(0, 64),
      printable.slice(64),
      'x'.repeat(DEFAULT_LIMITS.maxClientMsgIdLength),
    ]) {
      expectOk(
        { type: 'send', id: 1, conv: 'c', clientMsgId, text: 't' },
        { type: 'send', id: 1, conv: 'c', clientMsgId, text: 't' },
      );
    }
    // Text may hold any well-formed Unicode, control characters and whitespace included.
    for (const text of [
      ' ',
      '\n',
      '\u0000',
      '\uFEFF',
      '\u202E',
      'e\u0301',
      '👩‍👩‍👧',
      '\uD83D\uDE00',
      '\uFFFF',
      '\u{10FFFF}',
    ]) {
      expectOk(
        { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text },
        { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text },
      );
    }
  });
});

// ---------------------------------------------------------------- wrong fields

const WRONG_TYPES: [string, unknown][] = [
  ['null', null],
  ['boolean', true],
  ['object', {}],
  ['array', [1]],
  ['Uint8Array', new Uint8Array([1])],
];
const NOT_INTEGERS: [string, unknown][] = [
  ['string number', '1'],
  ['fraction', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['bigint', 1n],
  ...WRONG_TYPES,
];
const NOT_STRINGS: [string, unknown][] = [
  ['number', 1],
  ['empty', ''],
  ['String object', new String('c')],
  ...WRONG_TYPES,
];

interface Case {
  readonly name: string;
  readonly frame: Record<string, unknown>;
  readonly field: string;
}

function requiredIdCases(type: ClientFrameType): Case[] {
  const base = FULL[type] as unknown as Record<string, unknown>;
  const { id: _id, ...withoutId } = base;
  return [{ name: 'missing', frame: withoutId, field: 'id' }, ...optionalIdCases(type)];
}

function optionalIdCases(type: ClientFrameType): Case[] {
  const base = FULL[type] as unknown as Record<string, unknown>;
  return [
    ...NOT_INTEGERS.map(([n, v]) => ({ name: n, frame: { ...base, id: v }, field: 'id' })),
    { name: 'negative', frame: { ...base, id: -1 }, field: 'id' },
    { name: 'above MAX_REQUEST_ID', frame: { ...base, id: MAX_REQUEST_ID + 1 }, field: 'id' },
    { name: 'unsafe integer', frame: { ...base, id: 2 ** 53 }, field: 'id' },
  ];
}

function convCases(type: ClientFrameType): Case[] {
  const base = FULL[type] as unknown as Record<string, unknown>;
  const { conv: _conv, ...withoutConv } = base;
  const bad = ['a b', 'a/b', 'a.b', 'é', 'a\n', 'a\u0000', '..', 'a:b', 'c😀', ' c', 'c\u200B'];
  return [
    { name: 'missing', frame: withoutConv, field: 'conv' },
    ...NOT_STRINGS.map(([n, v]) => ({ name: n, frame: { ...base, conv: v }, field: 'conv' })),
    { name: 'too long', frame: { ...base, conv: 'a'.repeat(MAX_CONVERSATION_ID_LENGTH + 1) }, field: 'conv' },
    ...bad.map((conv) => ({ name: `bad characters ${JSON.stringify(conv)}`, frame: { ...base, conv }, field: 'conv' })),
  ];
}

const WRONG_FIELD_CASES: Record<ClientFrameType, Case[]> = {
  auth: [
    ...optionalIdCases('auth'),
    { name: 'missing', frame: { type: 'auth', id: 1 }, field: 'token' },
    ...NOT_STRINGS.map(([n, v]) => ({ name: n, frame: { type: 'auth', token: v }, field: 'token' })),
    { name: 'too long', frame: { type: 'auth', token: 'x'.repeat(MAX_TOKEN_LENGTH + 1) }, field: 'token' },
  ],
  join: [
    ...requiredIdCases('join'),
    ...convCases('join'),
    ...NOT_INTEGERS.map(([n, v]) => ({ name: n, frame: { ...FULL.join, since: v }, field: 'since' })),
    { name: 'negative', frame: { ...FULL.join, since: -1 }, field: 'since' },
    { name: 'unsafe integer', frame: { ...FULL.join, since: Number.MAX_SAFE_INTEGER + 1 }, field: 'since' },
  ],
  leave: [...requiredIdCases('leave'), ...convCases('leave')],
  admit: [...requiredIdCases('admit'), ...convCases('admit')],
  end: [...requiredIdCases('end'), ...convCases('end')],
  send: [
    ...requiredIdCases('send'),
    ...convCases('send'),
    { name: 'missing', frame: { type: 'send', id: 1, conv: 'c', text: 't' }, field: 'clientMsgId' },
    ...NOT_STRINGS.map(([n, v]) => ({ name: n, frame: { ...FULL.send, clientMsgId: v }, field: 'clientMsgId' })),
    {
      name: 'too long',
      frame: { ...FULL.send, clientMsgId: 'x'.repeat(DEFAULT_LIMITS.maxClientMsgIdLength + 1) },
      field: 'clientMsgId',
    },
    ...['a b', 'a\tb', '\u007f', 'é', 'a\n', '😀', '\u00a0'].map((clientMsgId) => ({
      name: `bad characters ${JSON.stringify(clientMsgId)}`,
      frame: { ...FULL.send, clientMsgId },
      field: 'clientMsgId',
    })),
    { name: 'missing', frame: { type: 'send', id: 1, conv: 'c', clientMsgId: 'm' }, field: 'text' },
    ...NOT_STRINGS.map(([n, v]) => ({ name: n, frame: { ...FULL.send, text: v }, field: 'text' })),
  ],
  typing: [
    ...convCases('typing'),
    { name: 'missing', frame: { type: 'typing', conv: 'c' }, field: 'active' },
    ...[0, 1, 'true', 'false', null, {}, [], new Boolean(true)].map((active) => ({
      name: `not a boolean: ${JSON.stringify(active)}`,
      frame: { type: 'typing', conv: 'c', active },
      field: 'active',
    })),
  ],
  history: [
    ...requiredIdCases('history'),
    ...convCases('history'),
    ...NOT_INTEGERS.map(([n, v]) => ({ name: n, frame: { ...FULL.history, before: v }, field: 'before' })),
    { name: 'zero', frame: { ...FULL.history, before: 0 }, field: 'before' },
    { name: 'negative', frame: { ...FULL.history, before: -5 }, field: 'before' },
    { name: 'unsafe integer', frame: { ...FULL.history, before: 2 ** 53 }, field: 'before' },
    ...NOT_INTEGERS.map(([n, v]) => ({ name: n, frame: { ...FULL.history, limit: v }, field: 'limit' })),
    { name: 'zero', frame: { ...FULL.history, limit: 0 }, field: 'limit' },
    {
      name: 'above maxHistoryPage',
      frame: { ...FULL.history, limit: DEFAULT_LIMITS.maxHistoryPage + 1 },
      field: 'limit',
    },
  ],
  ping: optionalIdCases('ping'),
  pong: optionalIdCases('pong'),
};

describe('wrong fields → INVALID_FIELD naming the field', () => {
  for (const type of TYPES) {
    it.each(WRONG_FIELD_CASES[type].map((c) => [`${c.field} ${c.name}`, c] as const))(`${type}: %s`, (_n, c) => {
      const err = expectError(c.frame, 'INVALID_FIELD', c.field);
      expect(err.message.startsWith(`${type}: `)).toBe(true);
    });
  }

  it('every required field of every type has a "missing" case above', () => {
    for (const type of TYPES) {
      const required = Object.keys(MINIMAL[type]).filter((k) => k !== 'type');
      const missing = WRONG_FIELD_CASES[type].filter((c) => c.name === 'missing').map((c) => c.field);
      expect(missing.sort()).toEqual(required.sort());
    }
  });

  it('null is not "absent" for an optional field', () => {
    expectError({ type: 'ping', id: null }, 'INVALID_FIELD', 'id');
    expectError({ ...FULL.join, since: null }, 'INVALID_FIELD', 'since');
  });

  it('a field inherited from the prototype does not count', () => {
    const proto = { conv: 'c', id: 1 };
    const input = Object.assign(Object.create(proto) as object, { type: 'leave' });
    expectError(input, 'INVALID_FIELD');
    expect((validateClientFrame(input) as { message: string }).message).toMatch(/`id`|`conv`/);
    const withId = Object.assign(Object.create(proto) as object, { type: 'leave', id: 1 });
    expectError(withId, 'INVALID_FIELD', 'conv');
  });

  it('carries the request `id` when it is valid, so the client can match the error', () => {
    expect(expectError({ ...FULL.send, conv: 'bad conv' }, 'INVALID_FIELD', 'conv').id).toBe(FULL.send.id);
    expect(expectError({ ...FULL.history, limit: 0, id: 0 }, 'INVALID_FIELD', 'limit').id).toBe(0);
    expect(expectError({ ...FULL.send, text: 'x'.repeat(10_001) }, 'TEXT_TOO_LONG', 'text').id).toBe(FULL.send.id);
    expect(expectError({ ...FULL.send, id: -1 }, 'INVALID_FIELD', 'id').id).toBeUndefined();
    expect(expectError({ ...FULL.send, id: '13' }, 'INVALID_FIELD', 'id').id).toBeUndefined();
  });
});

// ---------------------------------------------------------------- text

describe('message text', () => {
  const send = (text: unknown, limits?: Limits): ValidationResult =>
    validateClientFrame({ type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text }, limits);
  const max = DEFAULT_LIMITS.maxTextLength;

  it('exactly maxTextLength code points is accepted, one more is TEXT_TOO_LONG', () => {
    expect(send('a'.repeat(max)).ok).toBe(true);
    expectError(
      { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text: 'a'.repeat(max + 1) },
      'TEXT_TOO_LONG',
      'text',
    );
  });

  it('counts code points, not UTF-16 units: maxTextLength astral emoji (2 units each) is accepted', () => {
    const emoji = '😀'.repeat(max);
    expect(emoji.length).toBe(2 * max);
    expect(send(emoji)).toStrictEqual({
      ok: true,
      frame: { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text: emoji },
    });
    expect(send(`${emoji}😀`)).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
    expect(send(`${emoji}a`)).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
    expect(send(`a${'😀'.repeat(max - 1)}`).ok).toBe(true);
    expect(send(`${'😀'.repeat(max - 1)}ab`)).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
  });

  it('counts each code point of a grapheme cluster (a family emoji is 5 code points)', () => {
    const family = '👩‍👩‍👧'; // 3 emoji + 2 zero-width joiners
    expect(send(family, { ...DEFAULT_LIMITS, maxTextLength: 5 }).ok).toBe(true);
    expect(send(family, { ...DEFAULT_LIMITS, maxTextLength: 4 })).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
  });

  it('the TEXT_TOO_LONG message names `text` and the limit', () => {
    const err = expectError(
      { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text: 'abcdef' },
      'TEXT_TOO_LONG',
      'text',
      { ...DEFAULT_LIMITS, maxTextLength: 5 },
    );
    expect(err.message).toContain('5');
  });

  it.each([
    ['lone high surrogate', '\uD800'],
    ['lone low surrogate', '\uDC00'],
    ['high surrogate at the end', 'abc\uD83D'],
    ['low surrogate at the start', '\uDE00abc'],
    ['reversed pair', '\uDE00\uD83D'],
    ['high surrogate followed by a letter', '\uD83Da'],
    ['two high surrogates', '\uD83D\uD83D'],
    ['lone surrogate inside long text', `${'😀'.repeat(5_000)}\uDC00${'a'.repeat(100)}`],
  ])('%s → INVALID_FIELD naming `text`', (_name, text) => {
    expectError({ type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text }, 'INVALID_FIELD', 'text');
  });

  it('a long text is checked in reasonable time', () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      send('😀'.repeat(max));
      send(`${'\uD800'.repeat(max)}`);
      send('a'.repeat(10 * max));
    }
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

// ---------------------------------------------------------------- type and shape

describe('frame type', () => {
  it.each([
    'msg',
    'welcome',
    'joined',
    'ack',
    'error',
    'presence',
    '',
    'PING',
    'ping ',
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
  ])('%j → UNKNOWN_TYPE', (type) => {
    const err = expectError({ type, id: 7 }, 'UNKNOWN_TYPE');
    expect(err.id).toBe(7);
  });

  it('UNKNOWN_TYPE carries `id` only when it is a valid request id', () => {
    expect(expectError({ type: 'nope', id: 0 }, 'UNKNOWN_TYPE').id).toBe(0);
    expect(expectError({ type: 'nope', id: MAX_REQUEST_ID }, 'UNKNOWN_TYPE').id).toBe(MAX_REQUEST_ID);
    for (const id of [undefined, -1, 1.5, '7', MAX_REQUEST_ID + 1, Number.NaN, null, [7], { id: 7 }]) {
      expect(expectError({ type: 'nope', id }, 'UNKNOWN_TYPE').id).toBeUndefined();
    }
  });

  it('the UNKNOWN_TYPE message quotes a bounded, well-formed prefix of the type', () => {
    const err = expectError({ type: 'x'.repeat(100_000) }, 'UNKNOWN_TYPE');
    expect(err.message.length).toBeLessThan(100);
    // A long type cut in the middle of a surrogate pair, or one with lone surrogates, must not put a lone surrogate
    // into the error frame: msgpack would have to encode it as invalid UTF-8.
    for (const type of [`${'x'.repeat(31)}😀`, '\uD800', `a\uDC00b`, '😀'.repeat(40)]) {
      const e = expectError({ type }, 'UNKNOWN_TYPE');
      expect(LONE_SURROGATE.test(e.message)).toBe(false);
    }
    expect(expectError({ type: 'abc' }, 'UNKNOWN_TYPE').message).toContain('abc');
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['number', 1],
    ['string', '{"type":"ping"}'],
    ['boolean', true],
    ['bigint', 1n],
    ['symbol', Symbol('ping')],
    ['function', () => ({ type: 'ping' })],
    ['empty array', []],
    ['array holding a frame', [{ type: 'ping' }]],
    ['Uint8Array', new Uint8Array([0x81])],
    ['Buffer', Buffer.from('{"type":"ping"}')],
    ['object without type', { id: 1 }],
    ['numeric type', { type: 1 }],
    ['null type', { type: null }],
    ['array type', { type: ['ping'] }],
    ['String object type', { type: new String('ping') }],
    ['inherited type', Object.create({ type: 'ping' }) as unknown],
    ['Map holding a type', new Map([['type', 'ping']])],
  ])('%s → BAD_FRAME', (_name, value) => {
    expectError(value, 'BAD_FRAME');
  });
});

describe('prototype pollution', () => {
  it('`__proto__` keys from JSON do not pollute and do not reach the frame', () => {
    const input: unknown = JSON.parse(
      '{"type":"send","id":1,"conv":"c","clientMsgId":"m","text":"hi","__proto__":{"isAdmin":true,"type":"auth"}}',
    );
    const result = validateClientFrame(input);
    expect(result).toStrictEqual({ ok: true, frame: { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text: 'hi' } });
    const frame = (result as unknown as { frame: Record<string, unknown> }).frame;
    expect(Object.getPrototypeOf(frame)).toBe(Object.prototype);
    expect(frame.isAdmin).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(frame, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  it('a frame whose only `type` is under `__proto__` is BAD_FRAME', () => {
    expectError(JSON.parse('{"__proto__":{"type":"ping"}}'), 'BAD_FRAME');
  });

  it('`__proto__` as a value is just a string (and a valid conversation id: servers must not key plain objects by it)', () => {
    expectOk(JSON.parse('{"type":"leave","id":1,"conv":"__proto__"}'), { type: 'leave', id: 1, conv: '__proto__' });
    expectError(JSON.parse('{"type":"__proto__","id":1}'), 'UNKNOWN_TYPE');
  });
});

describe('custom limits', () => {
  const limits: Limits = { ...DEFAULT_LIMITS, maxTextLength: 5, maxClientMsgIdLength: 3, maxHistoryPage: 10 };
  const send = (clientMsgId: string, text: string): ValidationResult =>
    validateClientFrame({ type: 'send', id: 1, conv: 'c', clientMsgId, text }, limits);

  it('maxTextLength', () => {
    expect(send('m', 'abcde').ok).toBe(true);
    expect(send('m', '😀😀😀😀😀').ok).toBe(true);
    expect(send('m', 'abcdef')).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
    expect(send('m', '😀😀😀😀😀😀')).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
    // and a text over the custom limit but under the default one is still too long
    expect(send('m', 'a'.repeat(100))).toMatchObject({ ok: false, code: 'TEXT_TOO_LONG' });
  });

  it('maxClientMsgIdLength', () => {
    expect(send('abc', 't').ok).toBe(true);
    const err = expectError(
      { type: 'send', id: 1, conv: 'c', clientMsgId: 'abcd', text: 't' },
      'INVALID_FIELD',
      'clientMsgId',
      limits,
    );
    expect(err.message).toContain('3');
  });

  it('maxHistoryPage', () => {
    expectOk(
      { type: 'history', id: 1, conv: 'c', limit: 10 },
      { type: 'history', id: 1, conv: 'c', limit: 10 },
      limits,
    );
    expectError({ type: 'history', id: 1, conv: 'c', limit: 11 }, 'INVALID_FIELD', 'limit', limits);
  });

  it('larger limits are honoured too', () => {
    const big: Limits = { ...DEFAULT_LIMITS, maxTextLength: 20_000, maxClientMsgIdLength: 128, maxHistoryPage: 500 };
    expect(
      validateClientFrame(
        { type: 'send', id: 1, conv: 'c', clientMsgId: 'x'.repeat(128), text: 'a'.repeat(20_000) },
        big,
      ).ok,
    ).toBe(true);
    expect(validateClientFrame({ type: 'history', id: 1, conv: 'c', limit: 500 }, big).ok).toBe(true);
  });

  it('without limits, DEFAULT_LIMITS apply', () => {
    expect(validateClientFrame({ type: 'history', id: 1, conv: 'c', limit: DEFAULT_LIMITS.maxHistoryPage }).ok).toBe(
      true,
    );
    expect(
      validateClientFrame({ type: 'history', id: 1, conv: 'c', limit: DEFAULT_LIMITS.maxHistoryPage + 1 }).ok,
    ).toBe(false);
  });
});
