import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  type Codec,
  codecFor,
  DecodeError,
  DEFAULT_SUBPROTOCOL,
  isSubprotocol,
  JSON_SUBPROTOCOL,
  jsonCodec,
  MSGPACK_SUBPROTOCOL,
  msgpackCodec,
  negotiateSubprotocol,
  SUBPROTOCOLS,
} from './codec.js';
import type { ChatMessage, ClientFrame, ClientFrameType, ServerFrame, ServerFrameType } from './frames.js';
import { DEFAULT_LIMITS, MAX_REQUEST_ID } from './limits.js';
import { validateClientFrame } from './validate.js';

/** Runs of the one property-based test here; see fuzz.test.ts for FUZZ_RUNS. */
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS) > 0 ? Math.ceil(Number(process.env.FUZZ_RUNS)) : 200;

// ---------------------------------------------------------------- fixtures

const message: ChatMessage = {
  conv: 'appt_2024-11-23',
  seq: 42,
  from: 'u_patient_1',
  role: 'patient',
  clientMsgId: 'c-0001',
  text: 'Hello 👋 — ça va? 日本語 ‮ \u0000 tab\t',
  ts: 1_732_000_000_123,
};

/** Strings whose UTF-8 length sits on each msgpack str header boundary (fixstr/str8/str16/str32). */
const boundaryTexts = [31, 32, 63, 64, 255, 256, 65_535, 65_536].map((bytes) => 'a'.repeat(bytes));

// A mapped type, so that adding a frame kind to frames.ts without a fixture here is a type error (eslint type-checks tests).
const CLIENT_FRAMES: { [K in ClientFrameType]: Extract<ClientFrame, { type: K }>[] } = {
  auth: [
    { type: 'auth', token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.sig' },
    { type: 'auth', id: 0, token: 'x'.repeat(8 * 1024) },
  ],
  join: [
    { type: 'join', id: 1, conv: 'c' },
    { type: 'join', id: MAX_REQUEST_ID, conv: 'A-z_0'.repeat(12), since: 0 },
    { type: 'join', id: 2, conv: 'c', since: Number.MAX_SAFE_INTEGER },
  ],
  leave: [{ type: 'leave', id: 3, conv: 'c' }],
  send: [
    { type: 'send', id: 4, conv: 'c', clientMsgId: 'm-1', text: message.text },
    { type: 'send', id: 5, conv: 'c', clientMsgId: '!~'.repeat(32), text: '😀'.repeat(DEFAULT_LIMITS.maxTextLength) },
    ...boundaryTexts
      .filter((t) => t.length <= DEFAULT_LIMITS.maxTextLength)
      .map((text, i) => ({ type: 'send' as const, id: 100 + i, conv: 'c', clientMsgId: `b${i}`, text })),
  ],
  typing: [
    { type: 'typing', conv: 'c', active: true },
    { type: 'typing', conv: 'c', active: false },
  ],
  history: [
    { type: 'history', id: 6, conv: 'c' },
    { type: 'history', id: 7, conv: 'c', before: 2 ** 40, limit: DEFAULT_LIMITS.maxHistoryPage },
  ],
  ping: [{ type: 'ping' }, { type: 'ping', id: 8 }],
  pong: [{ type: 'pong' }, { type: 'pong', id: 9 }],
  admit: [{ type: 'admit', id: 12, conv: 'cv_appt' }],
  end: [{ type: 'end', id: MAX_REQUEST_ID, conv: 'cv_appt' }],
};

const SERVER_FRAMES: { [K in ServerFrameType]: Extract<ServerFrame, { type: K }>[] } = {
  welcome: [
    {
      type: 'welcome',
      id: 0,
      user: 'u_therapist_1',
      role: 'therapist',
      connectionId: 'conn-7f3a',
      expiresAt: 1_732_000_900_000,
      heartbeatMs: 25_000,
      limits: DEFAULT_LIMITS,
      serverTime: 1_732_000_000_000,
    },
  ],
  joined: [
    { type: 'joined', id: 1, conv: 'c', lastSeq: 0, closed: false },
    { type: 'joined', id: 2, conv: 'c', lastSeq: Number.MAX_SAFE_INTEGER, closed: true },
    { type: 'joined', id: 3, conv: 'c', lastSeq: 0, closed: false, appointmentStatus: 'waiting' },
  ],
  appointment: [
    { type: 'appointment', conv: 'c', appointmentId: 'ap_1', status: 'live', ts: 1_732_000_000_000 },
    { type: 'appointment', id: 12, conv: 'c', appointmentId: 'ap_1', status: 'ended', ts: 1 },
  ],
  left: [{ type: 'left', id: 3, conv: 'c' }],
  ack: [{ type: 'ack', id: 4, conv: 'c', clientMsgId: 'm-1', seq: 2 ** 32 + 1, ts: 1_732_000_000_123 }],
  msg: [
    { type: 'msg', ...message },
    ...boundaryTexts.map((text, i) => ({ type: 'msg' as const, ...message, seq: i + 1, text })),
  ],
  typing: [{ type: 'typing', conv: 'c', user: 'u1', role: 'supervisor', active: true }],
  'risk-alert': [
    { type: 'risk-alert', conv: 'c', seq: 7, caseId: 'C-7K3M-92QD', level: 'high', category: 'suicide', ts: 1 },
  ],
  'crisis-resources': [
    {
      type: 'crisis-resources',
      conv: 'c',
      seq: 7,
      heading: 'You do not have to face this alone',
      body: 'Call your local emergency number.',
      contacts: [
        { name: 'Listening line', contact: 'Call 000', availability: '24 hours' },
        { name: 'Text line', contact: 'Text 000' },
      ],
    },
  ],
  presence: [
    { type: 'presence', conv: 'c', members: [] },
    {
      type: 'presence',
      conv: 'c',
      members: [
        { user: 'u1', role: 'patient' },
        { user: 'u2', role: 'admin' },
      ],
    },
  ],
  history: [
    { type: 'history', id: 5, conv: 'c', messages: [], hasMore: false },
    { type: 'history', id: 6, conv: 'c', messages: [message, { ...message, seq: 43, text: 'second' }], hasMore: true },
  ],
  error: [
    { type: 'error', code: 'BAD_FRAME', message: 'a frame must be a map/object' },
    {
      type: 'error',
      id: 9,
      code: 'RATE_LIMITED',
      message: 'slow down',
      conv: 'c',
      clientMsgId: 'm-1',
      retryAfterMs: 1_250,
    },
  ],
  ping: [{ type: 'ping' }, { type: 'ping', id: 10 }],
  pong: [{ type: 'pong', id: 11 }],
};

const clientFrames: ClientFrame[] = Object.values(CLIENT_FRAMES).flat();
const serverFrames: ServerFrame[] = Object.values(SERVER_FRAMES).flat();
const allFrames: object[] = [...clientFrames, ...serverFrames];
const codecs: Codec[] = [msgpackCodec, jsonCodec];

/** What any JSON speaker sees of a frame: `undefined` members dropped. */
function jsonView(frame: object): unknown {
  return JSON.parse(JSON.stringify(frame));
}

function expectDecodeError(codec: Codec, data: Uint8Array | string): DecodeError {
  let thrown: unknown;
  try {
    codec.decode(data);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DecodeError);
  const err = thrown as DecodeError;
  expect(err.name).toBe('DecodeError');
  expect(err.message.length).toBeGreaterThan(0);
  return err;
}

// ---------------------------------------------------------------- a strict, independent msgpack reader

/**
 * Reads the plain msgpack subset the protocol is meant to use on the wire: nil, booleans, integers, floats, UTF-8
 * strings, arrays and maps with string keys. Anything else (bin, every ext type including msgpackr's records and the
 * `undefined` extension, 0xc1), invalid UTF-8, truncation or trailing bytes throws. It shares no code with msgpackr,
 * so it stands in for "any other msgpack library".
 */
function strictMsgpackDecode(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  const need = (n: number): number => {
    if (pos + n > bytes.length) throw new Error(`truncated at byte ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => bytes[need(1)]!;
  const str = (n: number): string => {
    const at = need(n);
    return utf8.decode(bytes.subarray(at, at + n));
  };
  const array = (n: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(value());
    return out;
  };
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const key = value();
      if (typeof key !== 'string') throw new Error(`map key of type ${typeof key}`);
      Object.defineProperty(out, key, { value: value(), enumerable: true, writable: true, configurable: true });
    }
    return out;
  };
  function value(): unknown {
    const t = u8();
    if (t <= 0x7f) return t;
    if (t <= 0x8f) return map(t & 0x0f);
    if (t <= 0x9f) return array(t & 0x0f);
    if (t <= 0xbf) return str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xca:
        return view.getFloat32(need(4));
      case 0xcb:
        return view.getFloat64(need(8));
      case 0xcc:
        return u8();
      case 0xcd:
        return view.getUint16(need(2));
      case 0xce:
        return view.getUint32(need(4));
      case 0xcf:
        return Number(view.getBigUint64(need(8)));
      case 0xd0:
        return view.getInt8(need(1));
      case 0xd1:
        return view.getInt16(need(2));
      case 0xd2:
        return view.getInt32(need(4));
      case 0xd3:
        return Number(view.getBigInt64(need(8)));
      case 0xd9:
        return str(u8());
      case 0xda:
        return str(view.getUint16(need(2)));
      case 0xdb:
        return str(view.getUint32(need(4)));
      case 0xdc:
        return array(view.getUint16(need(2)));
      case 0xdd:
        return array(view.getUint32(need(4)));
      case 0xde:
        return map(view.getUint16(need(2)));
      case 0xdf:
        return map(view.getUint32(need(4)));
      default:
        throw new Error(`byte 0x${t.toString(16)} at ${pos - 1} is not plain msgpack (bin, ext or never-used)`);
    }
  }
  const result = value();
  if (pos !== bytes.length) throw new Error(`${bytes.length - pos} trailing bytes`);
  return result;
}

/** A default `new Unpackr()` decodes maps as `Map`; turn them back into plain objects to compare. */
function mapsToObjects(value: unknown): unknown {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) {
      expect(typeof k).toBe('string');
      out[k as string] = mapsToObjects(v);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map(mapsToObjects);
  return value;
}

describe('strictMsgpackDecode (the test oracle itself)', () => {
  it('reads plain msgpack and refuses what is not', () => {
    expect(strictMsgpackDecode(Uint8Array.from([0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x92, 0xc3, 0xc0]))).toEqual({
      a: 1,
      b: [true, null],
    });
    expect(() => strictMsgpackDecode(Uint8Array.from([0xd4, 0x00, 0x00]))).toThrow(/not plain msgpack/);
    expect(() => strictMsgpackDecode(Uint8Array.from([0xa2, 0xed, 0xa0]))).toThrow(); // truncated
    expect(() => strictMsgpackDecode(Uint8Array.from([0xa3, 0xed, 0xa0, 0x80]))).toThrow(); // CESU-8 surrogate
    expect(() => strictMsgpackDecode(Uint8Array.from([0xc0, 0xc0]))).toThrow(/trailing/);
  });
});

// ---------------------------------------------------------------- round trips

describe('codec round trips', () => {
  it('has fixtures for every frame kind', () => {
    for (const list of [...Object.values(CLIENT_FRAMES), ...Object.values(SERVER_FRAMES)]) {
      expect(list.length).toBeGreaterThan(0);
    }
  });

  for (const codec of codecs) {
    describe(codec.subprotocol, () => {
      it('encodes to the transport type its `binary` flag announces', () => {
        const out = codec.encode({ type: 'ping' });
        if (codec.binary) expect(out).toBeInstanceOf(Uint8Array);
        else expect(typeof out).toBe('string');
      });

      it.each(allFrames.map((f) => [(f as { type: string }).type, f] as const))(
        'round-trips a %s frame',
        (_type, frame) => {
          expect(codec.decode(codec.encode(frame))).toStrictEqual(frame);
        },
      );

      it('round-trips every client frame to a frame that validates to itself', () => {
        for (const frame of clientFrames) {
          expect(validateClientFrame(codec.decode(codec.encode(frame)))).toStrictEqual({ ok: true, frame });
        }
      });

      it('drops members whose value is undefined, as JSON does', () => {
        const frame = { type: 'error', id: undefined, code: 'INTERNAL', message: 'x', conv: undefined };
        expect(codec.decode(codec.encode(frame))).toStrictEqual({ type: 'error', code: 'INTERNAL', message: 'x' });
      });
    });
  }

  it('binary frames decode from a Uint8Array view into a larger buffer, reading only the view', () => {
    const bytes = msgpackCodec.encode(CLIENT_FRAMES.send[0]!) as Uint8Array;
    const big = new Uint8Array(bytes.length + 20).fill(0xc0);
    big.set(bytes, 10);
    expect(msgpackCodec.decode(big.subarray(10, 10 + bytes.length))).toStrictEqual(CLIENT_FRAMES.send[0]);
    const text = new TextEncoder().encode(jsonCodec.encode(CLIENT_FRAMES.send[0]!) as string);
    expect(jsonCodec.decode(text)).toStrictEqual(CLIENT_FRAMES.send[0]);
  });

  it('an encoded msgpack frame is not overwritten by later encodes (frames may sit in an outbound queue)', () => {
    const first = msgpackCodec.encode(SERVER_FRAMES.welcome[0]!) as Uint8Array;
    const copy = Uint8Array.from(first);
    for (let i = 0; i < 2_000; i++) msgpackCodec.encode({ ...message, seq: i, text: `filler ${i} `.repeat(20) });
    expect(Uint8Array.from(first)).toEqual(copy);
    expect(msgpackCodec.decode(first)).toStrictEqual(SERVER_FRAMES.welcome[0]);
  });
});

// ---------------------------------------------------------------- msgpack output is plain msgpack

describe('msgpack output is plain msgpack', () => {
  const withUndefined = [
    { type: 'error', id: undefined, code: 'INTERNAL', message: 'oops', conv: undefined, retryAfterMs: undefined },
    { type: 'ping', id: undefined },
    { type: 'presence', conv: 'c', members: [{ user: 'u', role: 'patient', extra: undefined }] },
  ];

  it.each([...allFrames, ...withUndefined].map((f) => [(f as { type: string }).type, f] as const))(
    '%s: a strict independent reader decodes it to what JSON carries',
    (_type, frame) => {
      const bytes = msgpackCodec.encode(frame) as Uint8Array;
      expect(strictMsgpackDecode(bytes)).toStrictEqual(jsonView(frame));
    },
  );

  it.each([...allFrames, ...withUndefined].map((f) => [(f as { type: string }).type, f] as const))(
    '%s: a fresh default `new Unpackr()` decodes it to what JSON carries',
    (_type, frame) => {
      const bytes = msgpackCodec.encode(frame) as Uint8Array;
      expect(mapsToObjects(new Unpackr().unpack(bytes))).toStrictEqual(jsonView(frame));
    },
  );

  it('any JSON-like value, undefined members included, encodes to plain msgpack carrying what JSON carries', () => {
    // Strings are well-formed Unicode here: a lone surrogate cannot be written as valid UTF-8 by any msgpack encoder,
    // which is why validation rejects them in message text.
    const value = fc.object({
      key: fc.string({ unit: 'binary', maxLength: 8 }),
      values: [fc.jsonValue({ maxDepth: 1, stringUnit: 'binary' }), fc.constant(undefined)],
      maxDepth: 2,
      maxKeys: 6,
    });
    fc.assert(
      fc.property(value, (v) => {
        expect(strictMsgpackDecode(msgpackCodec.encode(v) as Uint8Array)).toStrictEqual(jsonView(v));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });

  it('integers 0x40–0x7f stay positive fixints, not msgpackr record references', () => {
    const bytes = msgpackCodec.encode({ n: 0x41, o: { n: 0x7f } }) as Uint8Array;
    expect(bytes.at(-1)).toBe(0x7f);
    expect(bytes).toContain(0x41);
    expect(strictMsgpackDecode(bytes)).toStrictEqual({ n: 0x41, o: { n: 0x7f } });
  });
});

// ---------------------------------------------------------------- decode errors

/** Two valid encodings of the same frame, to decode after each failure: msgpackr keeps module-level state. */
const probe = CLIENT_FRAMES.send[0]!;
const probeBytes = msgpackCodec.encode(probe) as Uint8Array;
const probeText = jsonCodec.encode(probe) as string;

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function repeat(unit: number[], times: number): Uint8Array {
  const out = new Uint8Array(unit.length * times);
  for (let i = 0; i < times; i++) out.set(unit, i * unit.length);
  return out;
}

const msgpackBadInputs: [string, Uint8Array | string][] = [
  ['empty input', new Uint8Array(0)],
  ['trailing nil after a frame', concat(probeBytes, [0xc0])],
  ['a frame followed by another frame', concat(probeBytes, probeBytes)],
  ['truncated frame (last byte missing)', probeBytes.slice(0, -1)],
  ['truncated frame (half)', probeBytes.slice(0, probeBytes.length >> 1)],
  ['map header only', Uint8Array.from([0x81])],
  ['str32 header claiming 4 GiB', Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61])],
  ['array32 header claiming 4 G elements', Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0])],
  ['map32 header claiming 4 G entries', Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0xc0])],
  ['bin32 header claiming 4 GiB', Uint8Array.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00])],
  ['unknown extension (fixext1 type 1)', Uint8Array.from([0xd4, 0x01, 0x00])],
  ['unknown extension (fixext4 type 0x10)', Uint8Array.from([0xd6, 0x10, 1, 2, 3, 4])],
  ['unknown extension (ext8 type 0x20)', Uint8Array.from([0xc7, 0x03, 0x20, 1, 2, 3])],
  ['unknown extension (negative type -2)', Uint8Array.from([0xd4, 0xfe, 0x00])],
  [
    'unknown extension inside a frame',
    concat(
      [0x82, 0xa4],
      new TextEncoder().encode('type'),
      [0xa4],
      new TextEncoder().encode('ping'),
      [0xa1, 0x78, 0xd4, 0x05, 0x00],
    ),
  ],
  ['structured-clone reference extension', Uint8Array.from([0xd6, 0x70, 0, 0, 0, 1])],
  ['extension payload running past the end', Uint8Array.from([0xc7, 0x10, 0x01, 1, 2])],
  ['never-used byte 0xc1 followed by data', Uint8Array.from([0xc1, 0xc0])],
  ['50,000 nested fixarrays', concat(repeat([0x91], 50_000), [0xc0])],
  ['30,000 nested fixmaps', concat(repeat([0x81, 0xa1, 0x61], 30_000), [0xc0])],
  ['30,000 nested array16', concat(repeat([0xdc, 0x00, 0x01], 30_000), [0xc0])],
  [
    'a frame holding 40,000 nested arrays',
    concat(
      [0x82, 0xa4],
      new TextEncoder().encode('type'),
      [0xa4],
      new TextEncoder().encode('ping'),
      [0xa1, 0x78],
      repeat([0x91], 40_000),
      [0xc0],
    ),
  ],
  ['a text (string) frame', '{"type":"ping"}'],
  ['a text frame holding what would be valid msgpack bytes', '\u0090'],
];

const jsonBadInputs: [string, Uint8Array | string][] = [
  ['empty string', ''],
  ['empty bytes', new Uint8Array(0)],
  ['whitespace only', '  \n'],
  ['trailing garbage', `${probeText} x`],
  ['two frames', `${probeText}${probeText}`],
  ['truncated', probeText.slice(0, -1)],
  ['invalid UTF-8 byte 0xff', Uint8Array.from([0x22, 0xff, 0x22])],
  ['overlong UTF-8 encoding of "/"', Uint8Array.from([0x22, 0xc0, 0xaf, 0x22])],
  ['CESU-8 encoded surrogate', Uint8Array.from([0x22, 0xed, 0xa0, 0x80, 0x22])],
  ['UTF-8 sequence cut at the end', concat(new TextEncoder().encode('"😀'), []).slice(0, -1)],
  [
    'a JSON frame with invalid UTF-8 inside a string',
    concat(new TextEncoder().encode('{"type":"ping","x":"'), [0xfe], new TextEncoder().encode('"}')),
  ],
  ['single quotes', "{'type':'ping'}"],
  ['NaN literal', '{"type":"ping","id":NaN}'],
];

describe('decode errors', () => {
  it.each(msgpackBadInputs)('msgpack: %s → DecodeError, then a valid frame still decodes', (_name, input) => {
    expectDecodeError(msgpackCodec, input);
    expect(msgpackCodec.decode(probeBytes)).toStrictEqual(probe);
  });

  it.each(jsonBadInputs)('json: %s → DecodeError, then a valid frame still decodes', (_name, input) => {
    expectDecodeError(jsonCodec, input);
    expect(jsonCodec.decode(probeText)).toStrictEqual(probe);
  });

  it('msgpack: every proper prefix of every encoded frame is a DecodeError, and decoding recovers after each', () => {
    for (const frame of allFrames) {
      const bytes = msgpackCodec.encode(frame) as Uint8Array;
      if (bytes.length > 2_000) continue; // the long boundary texts would make this quadratic
      for (let cut = 0; cut < bytes.length; cut++) {
        expectDecodeError(msgpackCodec, bytes.subarray(0, cut)); // a view: the rest of the frame lies past its end
        expect(msgpackCodec.decode(probeBytes)).toStrictEqual(probe);
      }
    }
  });

  it('json: every proper prefix of every encoded frame (as text and as bytes) is a DecodeError', () => {
    for (const frame of allFrames) {
      const text = jsonCodec.encode(frame) as string;
      if (text.length > 2_000) continue;
      const bytes = new TextEncoder().encode(text);
      for (let cut = 0; cut < text.length; cut++) expectDecodeError(jsonCodec, text.slice(0, cut));
      for (let cut = 0; cut < bytes.length; cut++) expectDecodeError(jsonCodec, bytes.subarray(0, cut));
    }
  });

  it('msgpack: nesting a little deeper than frames need decodes fine', () => {
    // Not a limit the protocol promises, just proof that the deep-nesting errors above are about depth.
    const nested = concat(repeat([0x91], 100), [0x01]);
    let v: unknown = msgpackCodec.decode(nested);
    for (let i = 0; i < 100; i++) {
      expect(Array.isArray(v)).toBe(true);
      v = (v as unknown[])[0];
    }
    expect(v).toBe(1);
  });

  it('json: deep nesting never throws anything but DecodeError, and validation copes with what comes out', () => {
    // V8's JSON.parse is not recursive, so unlike msgpack this may well decode; what matters is that it is harmless.
    for (const text of [
      '['.repeat(60_000) + ']'.repeat(60_000),
      '{"type":"ping","x":' + '{"a":'.repeat(30_000) + '1' + '}'.repeat(30_001),
    ]) {
      let decoded: unknown;
      try {
        decoded = jsonCodec.decode(text);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        continue;
      }
      const result = validateClientFrame(decoded);
      if (Array.isArray(decoded)) expect(result).toMatchObject({ ok: false, code: 'BAD_FRAME' });
      else expect(result).toStrictEqual({ ok: true, frame: { type: 'ping' } });
    }
  });

  it('json: trailing whitespace is not trailing garbage', () => {
    expect(jsonCodec.decode(` ${probeText}\n\t `)).toStrictEqual(probe);
  });

  it('DecodeError messages are well-formed Unicode (the server sends them back in BAD_FRAME errors)', () => {
    const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const emojiFrame = msgpackCodec.encode({ type: 'send', text: '😀'.repeat(80) }) as Uint8Array;
    const cases: [Codec, Uint8Array | string][] = [
      [msgpackCodec, concat(emojiFrame, [0xc0])], // msgpackr quotes the start of what it read, cut at 100 units
      [jsonCodec, 'x\uD800'], // V8 quotes the JSON text
      [jsonCodec, `${'😀'.repeat(50)}x`],
      [jsonCodec, 'tru\uDC00'],
    ];
    for (const [codec, input] of cases) {
      const err = expectDecodeError(codec, input);
      expect(lone.test(err.message), err.message).toBe(false);
    }
  });

  it('the DecodeError message does not carry an unbounded copy of the input', () => {
    const err = expectDecodeError(
      msgpackCodec,
      concat(msgpackCodec.encode({ t: 'x'.repeat(10_000) }) as Uint8Array, [0xc0]),
    );
    expect(err.message.length).toBeLessThan(300);
  });
});

// ---------------------------------------------------------------- hostile but decodable msgpack

describe('msgpack decoding of hostile maps', () => {
  it('a `__proto__` key neither pollutes Object.prototype nor sets the prototype of the decoded map', () => {
    const bytes = new Packr({ useRecords: false }).pack(
      JSON.parse('{"__proto__":{"polluted":"yes","type":"ping"},"type":"ping","id":3}'),
    );
    const decoded = msgpackCodec.decode(bytes) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(decoded.polluted).toBeUndefined();
    expect(validateClientFrame(decoded)).toStrictEqual({ ok: true, frame: { type: 'ping', id: 3 } });
  });

  // msgpackr's own encodings (records, bundled strings, its extension types) are not plain msgpack. Whether the
  // decoder refuses them or reads them, the frame that comes out must validate like any other.
  const msgpackrOptions = [
    { useRecords: true },
    { useRecords: false, moreTypes: true },
    { useRecords: false, bundleStrings: true },
    { structuredClone: true },
    { useRecords: true, bundleStrings: true, moreTypes: true },
  ];
  const sendFrame = { type: 'send', id: 1, conv: 'c', clientMsgId: 'm', text: 'hi 😀' };
  const extras = {
    s: new Set([1]),
    r: /a+/g,
    e: new TypeError('x'),
    d: new Date(0),
    b: 10n ** 15n,
    t: new Int16Array(2),
    m: new Map([[1, 2]]),
    u: undefined,
  };
  it.each(msgpackrOptions.map((o) => [JSON.stringify(o), o] as const))(
    'a frame packed by msgpackr with %s decodes to that frame or is a DecodeError',
    (_name, options) => {
      for (const [value, expected] of [
        [sendFrame, { ok: true, frame: sendFrame }],
        [
          { ...sendFrame, ...extras },
          { ok: true, frame: sendFrame },
        ],
        [[sendFrame, sendFrame, sendFrame, sendFrame, sendFrame], { ok: false, code: 'BAD_FRAME' }],
      ] as const) {
        const bytes = new Packr(options).pack(value);
        let decoded: unknown;
        try {
          decoded = msgpackCodec.decode(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          continue;
        }
        const result = validateClientFrame(decoded);
        if (expected.ok) expect(result).toStrictEqual(expected);
        else expect(result).toMatchObject(expected);
        expect(msgpackCodec.decode(probeBytes)).toStrictEqual(probe);
      }
    },
  );

  it('maps decode to plain objects, not Map', () => {
    expect(msgpackCodec.decode(Uint8Array.from([0x81, 0xa1, 0x61, 0x01]))).toStrictEqual({ a: 1 });
  });

  it('an integer too large for a double keeps no false precision (int64 decodes as a number)', () => {
    const decoded = msgpackCodec.decode(Uint8Array.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(typeof decoded).toBe('number');
    expect(Number.isSafeInteger(decoded)).toBe(false);
  });
});

// ---------------------------------------------------------------- subprotocols

describe('subprotocol negotiation', () => {
  it('no offer → msgpack (the default)', () => {
    expect(DEFAULT_SUBPROTOCOL).toBe(MSGPACK_SUBPROTOCOL);
    expect(negotiateSubprotocol([])).toBe(MSGPACK_SUBPROTOCOL);
    expect(negotiateSubprotocol(new Set())).toBe(MSGPACK_SUBPROTOCOL);
  });

  it('json only → json', () => {
    expect(negotiateSubprotocol([JSON_SUBPROTOCOL])).toBe(JSON_SUBPROTOCOL);
    expect(negotiateSubprotocol(['chat', JSON_SUBPROTOCOL, 'therapy-chat.v2.json'])).toBe(JSON_SUBPROTOCOL);
  });

  it('both → msgpack, whatever order the client lists them in', () => {
    expect(negotiateSubprotocol([MSGPACK_SUBPROTOCOL, JSON_SUBPROTOCOL])).toBe(MSGPACK_SUBPROTOCOL);
    expect(negotiateSubprotocol([JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL])).toBe(MSGPACK_SUBPROTOCOL);
    expect(negotiateSubprotocol(new Set([JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL]))).toBe(MSGPACK_SUBPROTOCOL);
  });

  it('msgpack only → msgpack', () => {
    expect(negotiateSubprotocol([MSGPACK_SUBPROTOCOL])).toBe(MSGPACK_SUBPROTOCOL);
  });

  it('only unknown subprotocols → undefined', () => {
    expect(negotiateSubprotocol(['chat'])).toBeUndefined();
    expect(negotiateSubprotocol([''])).toBeUndefined();
    expect(
      negotiateSubprotocol(['therapy-chat.v1.MSGPACK', 'therapy-chat.v1.json ', 'therapy-chat.v2.msgpack']),
    ).toBeUndefined();
  });

  it('accepts any iterable, once', () => {
    function* offered(): Generator<string> {
      yield 'chat';
      yield JSON_SUBPROTOCOL;
    }
    expect(negotiateSubprotocol(offered())).toBe(JSON_SUBPROTOCOL);
  });

  it('codecFor and isSubprotocol agree with the list', () => {
    expect(SUBPROTOCOLS).toEqual([MSGPACK_SUBPROTOCOL, JSON_SUBPROTOCOL]);
    expect(codecFor(MSGPACK_SUBPROTOCOL)).toBe(msgpackCodec);
    expect(codecFor(JSON_SUBPROTOCOL)).toBe(jsonCodec);
    for (const p of SUBPROTOCOLS) {
      expect(isSubprotocol(p)).toBe(true);
      expect(codecFor(p).subprotocol).toBe(p);
    }
    expect(msgpackCodec.binary).toBe(true);
    expect(jsonCodec.binary).toBe(false);
    for (const v of ['', 'json', 'msgpack', 'therapy-chat.v1', `${JSON_SUBPROTOCOL} `, undefined, null, 1, {}]) {
      expect(isSubprotocol(v)).toBe(false);
    }
  });
});
