/**
 * Property-based fuzzing of one live server over real WebSocket connections (fast-check).
 *
 * Runs per property: env `FUZZ_RUNS` (default 100, which keeps the file to a few seconds), e.g.
 *   FUZZ_RUNS=5000 npx vitest run server/test/fuzz-live.test.ts
 * A failure prints the fast-check seed and path; replay it with env `FUZZ_SEED=<seed>` (and the same FUZZ_RUNS).
 *
 * Every fuzz frame is followed by a `ping` with a fresh id, and the property waits for its `pong` (and, for a frame
 * carrying a request id, for the reply to that id), so each run checks what the server actually answered:
 * - every frame received is a known server frame type, and every `error` carries a code of the registry;
 * - the connection is closed only with a documented close code (it is then reopened for the next run);
 * - the server does not crash: after the run the HTTP probe answers, nothing was logged at error level, and a
 *   separate pair of well-behaved clients still chats.
 * The rate limit is raised for this server so that the fuzzing is not just answered with RATE_LIMITED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type AckFrame,
  CLOSE_CODES,
  type ErrorCode,
  type ErrorFrame,
  type HistoryPageFrame,
  isErrorCode,
  JSON_SUBPROTOCOL,
  jsonCodec,
  MSGPACK_SUBPROTOCOL,
  msgpackCodec,
  type ServerFrame,
  type Subprotocol,
} from '@therapy-chat/protocol';
import { mintToken, type Session, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { type Closed, TestClient } from './helpers/test-client.js';

const RUNS = Math.max(1, Number.parseInt(process.env.FUZZ_RUNS ?? '', 10) || 100);
const SEED = process.env.FUZZ_SEED ? Number.parseInt(process.env.FUZZ_SEED, 10) : undefined;
const fcParams = { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) };
/** Each property test's time limit grows with the number of runs (about 5 ms a run is typical). */
const PROPERTY_TIMEOUT_MS = 20_000 + RUNS * 50;

const SERVER_FRAME_TYPES = new Set<string>([
  'welcome',
  'joined',
  'left',
  'ack',
  'msg',
  'typing',
  'presence',
  'history',
  'error',
  'appointment',
  'ping',
  'pong',
]);
const DOCUMENTED_CLOSE_CODES = new Set<number>(Object.values(CLOSE_CODES).map((c) => c.code));
const CLIENT_FRAME_TYPES = [
  'auth',
  'join',
  'leave',
  'send',
  'typing',
  'history',
  'ping',
  'pong',
  'admit',
  'end',
] as const;
/** Client frame types that are answered with a frame carrying their `id`. */
const REQUEST_TYPES = new Set<string>(['auth', 'join', 'leave', 'send', 'history', 'ping', 'admit', 'end']);
const MAX_FRAME_BYTES = 64 * 1024;

let ts: TestServer;
let s: Session;
let other: Session;
let tokens: string[];
const allClients: TestClient[] = [];

/** Request ids: fuzz frames take them from 1 up, sync pings from 1,000,000,000 up, so they never collide. */
let nextRequestId = 1;
let nextPingId = 1_000_000_000;

function expectWellFormed(f: ServerFrame): void {
  expect(SERVER_FRAME_TYPES.has(f.type), `unknown server frame type in ${JSON.stringify(f)}`).toBe(true);
  if (f.type === 'error') {
    expect(isErrorCode(f.code), `error code not in the registry: ${JSON.stringify(f)}`).toBe(true);
    expect(typeof f.message).toBe('string');
  }
}

interface ProbeResult {
  /** The frames received between sending the fuzz frame and its sync pong (or the close). */
  readonly frames: ServerFrame[];
  readonly closed?: Closed;
}

/** A fuzzing connection: the patient of `s`, joined to its conversation; reopened when the server closes it. */
class Fuzzer {
  private client: TestClient | undefined;
  readonly closes: Closed[] = [];

  constructor(readonly subprotocol: Subprotocol) {}

  get codec() {
    return this.subprotocol === JSON_SUBPROTOCOL ? jsonCodec : msgpackCodec;
  }

  private async ready(): Promise<TestClient> {
    if (this.client && !this.client.isClosed) return this.client;
    const c = await TestClient.connect(ts.url, this.subprotocol);
    allClients.push(c);
    expect(await c.auth(s.patientToken)).toMatchObject({ type: 'welcome' });
    expect(await c.join(s.conv)).toMatchObject({ type: 'joined' });
    this.client = c;
    return c;
  }

  /**
   * Sends `data`, then a ping; resolves once the pong is back (and, with `replyId`, once the reply to that request
   * id is back or the frame was refused before it could be read) or the connection closed.
   */
  async probe(data: Uint8Array | string, replyId?: number): Promise<ProbeResult> {
    const c = await this.ready();
    const from = c.frames.length;
    const pingId = nextPingId++;
    c.sendRaw(data);
    c.send({ type: 'ping', id: pingId });
    const answered = (frames: ServerFrame[]): boolean => {
      const pong = frames.findIndex((f) => f.type === 'pong' && f.id === pingId);
      if (pong < 0) return false;
      if (replyId === undefined) return true;
      if (frames.some((f) => idOf(f) === replyId && f.type !== 'msg')) return true;
      // Refused before its id was read (undecodable, too large): the error carries no id and precedes the pong.
      return frames.slice(0, pong).some((f) => f.type === 'error' && idOf(f) === undefined);
    };
    const done = c
      .waitFor(() => answered(c.frames.slice(from)), 5000, c.frames.length)
      .then(
        () => undefined,
        // waitFor also rejects when the connection closes first: then the close is the outcome.
        async (err: unknown) => (c.isClosed ? c.closed : Promise.reject(err as Error)),
      );
    const closed = await Promise.race([c.closed, done]);
    const frames = c.frames.slice(from).filter((f) => !(f.type === 'pong' && f.id === pingId));
    for (const f of frames) expectWellFormed(f);
    if (closed) {
      this.closes.push(closed);
      expect(DOCUMENTED_CLOSE_CODES.has(closed.code), `undocumented close code ${closed.code} (${closed.reason})`).toBe(
        true,
      );
      return { frames, closed };
    }
    return { frames };
  }
}

/** The error frames of a probe, less the noise a live conversation can add (msg, presence, typing, pings). */
function errorsOf(r: ProbeResult): ErrorFrame[] {
  return r.frames.filter((f): f is ErrorFrame => f.type === 'error');
}

/** The request id a server frame answers, if any. */
function idOf(f: ServerFrame): number | undefined {
  return 'id' in f ? f.id : undefined;
}

function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function encodeOrSkip(codec: typeof msgpackCodec, frame: object): Uint8Array | string {
  try {
    return codec.encode(frame);
  } catch {
    fc.pre(false); // the value cannot be written in this codec (e.g. a BigInt in JSON): not a test case
    throw new Error('unreachable');
  }
}

beforeAll(async () => {
  ts = await startServer({ FRAMES_PER_SECOND: '100000', FRAME_BURST: '1000000' });
  s = await ts.seed();
  other = await ts.seed();
  const foreignDir = tempDataDir();
  tokens = [
    s.patientToken,
    s.therapistToken,
    other.patientToken,
    await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -60 }),
    await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -2 }),
    await mintToken(ts.dataDir, s.patientId, 'therapist'),
    await mintToken(ts.dataDir, s.patientId, 'patient', { issuer: 'elsewhere' }),
    await mintToken(foreignDir, s.patientId, 'patient'),
    'not.a.token',
  ];
});

afterAll(async () => {
  await Promise.all(allClients.map((c) => c.close()));
  await ts.stop();
});

// ------------------------------------------------------------------------------------------------ arbitraries

/** Valid client frames, for truncation. */
function validFrame(): fc.Arbitrary<Record<string, unknown>> {
  const id = fc.integer({ min: 0, max: 2 ** 31 - 1 });
  return fc.oneof(
    fc.record({ type: fc.constant('auth'), id, token: fc.constant(s.patientToken) }),
    fc.record({ type: fc.constant('join'), id, conv: fc.constant(s.conv), since: fc.nat(5) }),
    fc.record({
      type: fc.constant('send'),
      id,
      conv: fc.constant(s.conv),
      clientMsgId: fc.stringMatching(/^[!-~]{1,64}$/),
      text: fc.string({ minLength: 1, maxLength: 300, unit: 'grapheme' }),
    }),
    fc.record({ type: fc.constant('history'), id, conv: fc.constant(s.conv), limit: fc.integer({ min: 1, max: 100 }) }),
    fc.record({ type: fc.constant('typing'), conv: fc.constant(s.conv), active: fc.boolean() }),
    fc.record({ type: fc.constant('ping'), id }),
  );
}

/** A msgpack extension value of a type msgpackr knows (or not), with a payload and whatever follows it. */
const extValue = fc
  .tuple(
    fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7),
    fc.constantFrom(0x00, 0x01, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x7f, 0xff),
    fc.uint8Array({ maxLength: 40 }),
    fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc.uint8Array({ maxLength: 40 }),
      fc.anything().map((v) => {
        try {
          return msgpackCodec.encode(v as object) as Uint8Array;
        } catch {
          return new Uint8Array(0);
        }
      }),
    ),
  )
  .map(([head, type, payload, tail]) => {
    const fixed: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };
    const size = fixed[head];
    const body = size === undefined ? payload : concat(payload, new Uint8Array(size)).subarray(0, size);
    return concat(size === undefined ? [head, body.length, type & 0xff] : [head, type & 0xff], body, tail);
  });

/** Deeply nested values, in either codec, as a whole frame or inside a field. */
const deepFrame = fc
  .record({
    depth: fc.integer({ min: 1, max: 70_000 }),
    shape: fc.constantFrom('array', 'map', 'in-field'),
    json: fc.boolean(),
  })
  .map(({ depth, shape, json }) => {
    // Sizes stay within twice MAX_FRAME_BYTES: beyond that the transport closes with 1009 (see bad-input.test.ts).
    if (json) {
      const n = Math.min(depth, 30_000);
      if (shape === 'array') return { json, data: '['.repeat(n) + ']'.repeat(n) };
      if (shape === 'map') {
        const m = Math.min(n, 21_000);
        return { json, data: '{"a":'.repeat(m) + '1' + '}'.repeat(m) };
      }
      return {
        json,
        data: `{"type":"send","id":1,"conv":"${s.conv}","clientMsgId":"deep","text":${'['.repeat(n)}${']'.repeat(n)}}`,
      };
    }
    if (shape === 'array') return { json, data: concat(new Uint8Array(depth).fill(0x91), [0xc0]) };
    if (shape === 'map') {
      depth = Math.min(depth, 40_000);
      const level = [0x81, 0xa1, 0x61];
      const out = new Uint8Array(depth * 3 + 1);
      for (let i = 0; i < depth; i++) out.set(level, i * 3);
      out[depth * 3] = 0xc0;
      return { json, data: out };
    }
    const head = msgpackCodec.encode({
      type: 'send',
      id: 1,
      conv: s.conv,
      clientMsgId: 'deep',
      text: null,
    }) as Uint8Array;
    return { json, data: concat(head.subarray(0, head.length - 1), new Uint8Array(depth).fill(0x91), [0xc0]) };
  });

/** A frame of a valid (or nearly valid) type whose fields are mostly plausible and sometimes anything at all. */
function wrongFrame() {
  const anything = fc.anything({
    withBigInt: true,
    withDate: true,
    withTypedArray: true,
    withSparseArray: true,
    withNullPrototype: true,
    withObjectString: true,
    maxDepth: 3,
  });
  const field = <T>(plausible: fc.Arbitrary<T>) =>
    fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: anything });
  return fc.record(
    {
      frame: fc.record(
        {
          type: fc.oneof(
            { weight: 8, arbitrary: fc.constantFrom(...CLIENT_FRAME_TYPES) },
            {
              weight: 1,
              arbitrary: fc.constantFrom('welcome', 'error', 'msg', 'Auth', 'send ', '__proto__', 'toString'),
            },
          ),
          id: anything,
          conv: field(fc.constantFrom(s.conv, s.threadId, other.conv, 'cv_nope', '', 'a b')),
          since: field(fc.integer({ min: -2, max: 50 })),
          before: field(fc.integer({ min: -2, max: 50 })),
          limit: field(fc.integer({ min: -2, max: 120 })),
          clientMsgId: field(fc.oneof(fc.stringMatching(/^[!-~]{1,8}$/), fc.string({ maxLength: 70 }))),
          text: field(fc.string({ maxLength: 40, unit: 'binary' })),
          token: field(fc.constantFrom(...tokens)),
          active: field(fc.boolean()),
        },
        { requiredKeys: ['type'] },
      ),
      /** Replace the `id` with a fresh valid request id, so that the reply can be awaited. */
      freshId: fc.boolean(),
      json: fc.boolean(),
    },
    { requiredKeys: ['frame', 'freshId', 'json'] },
  );
}

// ------------------------------------------------------------------------------------------------ properties

describe('fuzzing a live server', () => {
  it(
    'random bytes: every answer is a known frame with a registered code; only documented closes',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      const js = new Fuzzer(JSON_SUBPROTOCOL);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            // A map header first, so that more of the bytes are read as a frame.
            fc
              .tuple(fc.integer({ min: 0x80, max: 0x8f }), fc.uint8Array({ maxLength: 300 }))
              .map(([h, b]) => concat([h], b)),
          ),
          fc.boolean(),
          async (bytes, json) => {
            await (json ? js : mp).probe(bytes);
          },
        ),
        fcParams,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'random text frames on either subprotocol are answered the same way',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      const js = new Fuzzer(JSON_SUBPROTOCOL);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 4 })),
          fc.boolean(),
          async (text, json) => {
            await (json ? js : mp).probe(text);
          },
        ),
        fcParams,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'truncated valid frames are answered with BAD_FRAME, and nothing else',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      const js = new Fuzzer(JSON_SUBPROTOCOL);
      await fc.assert(
        fc.asyncProperty(
          validFrame(),
          fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          fc.boolean(),
          async (frame, cut, json) => {
            const fuzzer = json ? js : mp;
            const full = fuzzer.codec.encode(frame);
            const truncated = full.slice(0, Math.floor(cut * full.length));
            const r = await fuzzer.probe(truncated);
            expect(r.closed).toBeUndefined();
            const replies = r.frames.filter((f) => f.type !== 'msg' && f.type !== 'presence' && f.type !== 'ping');
            expect(replies.map((f) => (f.type === 'error' ? f.code : f.type))).toEqual(['BAD_FRAME']);
          },
        ),
        fcParams,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'deeply nested frames are answered with BAD_FRAME, INVALID_FIELD or FRAME_TOO_LARGE',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      const js = new Fuzzer(JSON_SUBPROTOCOL);
      // The deepest cases first, always: they are what blows a recursive decoder's stack.
      const examples: [{ json: boolean; data: Uint8Array | string }][] = [
        [{ json: false, data: concat(new Uint8Array(MAX_FRAME_BYTES - 1).fill(0x91), [0xc0]) }],
        [{ json: false, data: new Uint8Array(MAX_FRAME_BYTES).fill(0x91) }],
        [{ json: true, data: '['.repeat(MAX_FRAME_BYTES / 2) + ']'.repeat(MAX_FRAME_BYTES / 2) }],
      ];
      await fc.assert(
        fc.asyncProperty(deepFrame, async ({ json, data }) => {
          const r = await (json ? js : mp).probe(data);
          expect(r.closed).toBeUndefined();
          const codes = errorsOf(r).map((e) => e.code);
          expect(codes).toHaveLength(1);
          expect(['BAD_FRAME', 'INVALID_FIELD', 'FRAME_TOO_LARGE'] satisfies ErrorCode[]).toContain(codes[0]);
        }),
        { ...fcParams, examples },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'msgpack extension values inside a frame are refused without harm',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      await fc.assert(
        fc.asyncProperty(extValue, fc.constantFrom('text', 'type', 'whole'), async (ext, where) => {
          const id = nextRequestId++;
          let data: Uint8Array;
          if (where === 'whole') data = ext;
          else {
            // The field goes last, so its nil is the frame's last byte: replace it with the extension value.
            const frame =
              where === 'text'
                ? { type: 'send', id, conv: s.conv, clientMsgId: `ext-${id}`, text: null }
                : { id, conv: s.conv, type: null };
            const head = msgpackCodec.encode(frame) as Uint8Array;
            data = concat(head.subarray(0, head.length - 1), ext);
          }
          const r = await mp.probe(data, where === 'text' ? id : undefined);
          expect(r.closed).toBeUndefined();
        }),
        fcParams,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'well-typed frames with arbitrary fields: each request gets its reply; only documented closes',
    async () => {
      const mp = new Fuzzer(MSGPACK_SUBPROTOCOL);
      const js = new Fuzzer(JSON_SUBPROTOCOL);
      let replies = 0;
      await fc.assert(
        fc.asyncProperty(wrongFrame(), async ({ frame, freshId, json }) => {
          const fuzzer = json ? js : mp;
          const id = freshId ? nextRequestId++ : undefined;
          const sent = id === undefined ? frame : { ...frame, id };
          const data = encodeOrSkip(fuzzer.codec, sent);
          if ((typeof data === 'string' ? data.length * 3 : data.byteLength) > MAX_FRAME_BYTES) fc.pre(false);
          const awaitReply = id !== undefined && REQUEST_TYPES.has(frame.type);
          const r = await fuzzer.probe(data, awaitReply ? id : undefined);
          if (awaitReply && !r.closed) {
            const reply = r.frames.find((f) => idOf(f) === id && f.type !== 'msg');
            if (!reply) expect.fail(`no reply to ${show(sent)}; received ${show(r.frames)}`);
            replies++;
          }
        }),
        fcParams,
      );
      // Not vacuous: many requests were answered under their own id.
      if (RUNS >= 50) expect(replies).toBeGreaterThan(RUNS / 10);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it('after the fuzzing the server is healthy and a well-behaved pair still chats', async () => {
    const res = await fetch(`${ts.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect((await fetch(`${ts.httpUrl}/readyz`)).status).toBe(200);
    const errorLogs = ts.logs.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errorLogs).toEqual([]);

    // Every frame any fuzzing connection received, including late replies, was well-formed, and every connection
    // the server closed was closed with a documented code.
    for (const c of allClients) {
      for (const f of c.frames) expectWellFormed(f);
      if (c.isClosed) expect(DOCUMENTED_CLOSE_CODES.has((await c.closed).code)).toBe(true);
    }

    const fresh = await ts.seed();
    const therapist = await TestClient.connect(ts.url);
    const patient = await TestClient.connect(ts.url, JSON_SUBPROTOCOL);
    allClients.push(therapist, patient);
    expect(await therapist.auth(fresh.therapistToken)).toMatchObject({ type: 'welcome' });
    expect(await patient.auth(fresh.patientToken)).toMatchObject({ type: 'welcome' });
    expect(await therapist.join(fresh.conv)).toMatchObject({ type: 'joined' });
    expect(await patient.join(fresh.conv)).toMatchObject({ type: 'joined' });
    for (const [from, to] of [
      [patient, therapist],
      [therapist, patient],
    ] as const) {
      const ack = (await from.sendText(fresh.conv, `after the storm ${Math.random()}`)) as AckFrame;
      expect(ack.type).toBe('ack');
      expect((await to.waitForSeq(fresh.conv, ack.seq)).clientMsgId).toBe(ack.clientMsgId);
    }
    // The conversation the fuzzers hammered is intact too: its history reads back in seq order with no gaps.
    const reader = await TestClient.connect(ts.url);
    allClients.push(reader);
    expect(await reader.auth(s.therapistToken)).toMatchObject({ type: 'welcome' });
    expect(await reader.join(s.conv)).toMatchObject({ type: 'joined' });
    const page = (await reader.request({ type: 'history', conv: s.conv, limit: 100 })) as HistoryPageFrame;
    expect(page.type).toBe('history');
    const seqs = page.messages.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
  });
});
