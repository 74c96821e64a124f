/**
 * Hostile and broken input against a real server over real WebSocket connections. Every case checks the stable
 * error code (and the close code where the connection ends), that the server is still healthy (HTTP probe answers,
 * nothing logged at error level), and that a well-behaved pair of connections in the same conversation keeps
 * chatting afterwards: send → ack → the other side receives, both ways.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  type AckFrame,
  CLOSE_CODES,
  DEFAULT_LIMITS,
  type ErrorCode,
  type ErrorFrame,
  type HistoryPageFrame,
  JSON_SUBPROTOCOL,
  type JoinedFrame,
  MSGPACK_SUBPROTOCOL,
  msgpackCodec,
  type ServerFrame,
  type Subprotocol,
  type WelcomeFrame,
} from '@therapy-chat/protocol';
import { scheduleAppointment } from '../src/domain/care-setup.js';
import { mintToken, type Session, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { type Closed, TestClient } from './helpers/test-client.js';

// ------------------------------------------------------------------------------------------------ helpers

interface Pair {
  readonly therapist: TestClient;
  readonly patient: TestClient;
  readonly conv: string;
  readonly session: Session;
}

/** One server, the clients a test opened on it, and the checks every test ends with. */
class World {
  readonly clients: TestClient[] = [];

  constructor(readonly ts: TestServer) {}

  async open(subprotocol: Subprotocol | null = MSGPACK_SUBPROTOCOL): Promise<TestClient> {
    const c = await TestClient.connect(this.ts.url, subprotocol);
    this.clients.push(c);
    return c;
  }

  /** A connection authenticated with `token` (and joined to `conv`, if given). */
  async connect(
    token: string,
    conv?: string,
    subprotocol: Subprotocol | null = MSGPACK_SUBPROTOCOL,
  ): Promise<TestClient> {
    const c = await this.open(subprotocol);
    expect(await c.auth(token)).toMatchObject({ type: 'welcome' });
    if (conv !== undefined) expect(await c.join(conv)).toMatchObject({ type: 'joined', conv });
    return c;
  }

  /** A therapist and a patient, each on their own connection, both joined to `conv`. */
  async pair(session: Session, conv: string = session.conv): Promise<Pair> {
    const therapist = await this.connect(session.therapistToken, conv);
    const patient = await this.connect(session.patientToken, conv, JSON_SUBPROTOCOL);
    return { therapist, patient, conv, session };
  }

  /** The server is up and the pair still chats, both ways. */
  async stillChatting(p: Pair): Promise<void> {
    expect(p.patient.isClosed).toBe(false);
    expect(p.therapist.isClosed).toBe(false);
    for (const [from, to, userId] of [
      [p.patient, p.therapist, p.session.patientId],
      [p.therapist, p.patient, p.session.therapistId],
    ] as const) {
      const text = `still chatting ${randomUUID()}`;
      const ack = await from.sendText(p.conv, text);
      expect(ack).toMatchObject({ type: 'ack', conv: p.conv });
      const msg = await to.waitForSeq(p.conv, (ack as AckFrame).seq);
      expect(msg).toMatchObject({ text, from: userId, clientMsgId: (ack as AckFrame).clientMsgId });
    }
    await this.healthy();
  }

  /** The HTTP probe answers and nothing was logged at error level or above (no handler blew up). */
  async healthy(): Promise<void> {
    const res = await fetch(`${this.ts.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    const bad = this.ts.logs.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(bad).toEqual([]);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)),
    ),
  ]);
}

const closedWithin = (c: TestClient, ms = 5000): Promise<Closed> => within(c.closed, ms, 'waiting for the close');

/** The next error frame received after `from` (an index into `c.frames`). */
function nextError(c: TestClient, from: number, match: (e: ErrorFrame) => boolean = () => true): Promise<ErrorFrame> {
  return c.waitFor<ErrorFrame>((f) => f.type === 'error' && match(f), 5000, from);
}

/** Sends raw bytes (or text) and returns the error frame that answers them. */
async function errorFor(c: TestClient, data: Uint8Array | string): Promise<ErrorFrame> {
  const from = c.frames.length;
  c.sendRaw(data);
  return nextError(c, from);
}

/** Sends a frame carrying a request id and returns the error frame that answers that id. */
async function errorForRequest(c: TestClient, frame: Record<string, unknown>): Promise<ErrorFrame> {
  const reply = await c.request(frame);
  expect(reply.type).toBe('error');
  return reply as ErrorFrame;
}

/** The connection is still open and still answers. */
async function expectOpen(c: TestClient): Promise<void> {
  expect(c.isClosed).toBe(false);
  expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
}

/** The status code with which an upgrade request is answered when it is not accepted. */
function upgradeStatus(url: string, protocols?: string | string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      req.destroy();
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error(`the upgrade was accepted with subprotocol ${JSON.stringify(ws.protocol)}`));
    });
    ws.on('error', (err) => reject(err));
  });
}

function hasWelcome(c: TestClient): boolean {
  return c.frames.some((f: ServerFrame) => f.type === 'welcome');
}

// ------------------------------------------------------------------------------------------------ default server

describe('bad input against a server with default limits', () => {
  let world: World;
  let ts: TestServer;
  let s: Session;
  let p: Pair;

  beforeAll(async () => {
    ts = await startServer();
    world = new World(ts);
  });
  afterAll(async () => {
    await ts.stop();
  });
  beforeEach(async () => {
    s = await ts.seed();
    p = await world.pair(s);
  });
  afterEach(async () => {
    await world.closeAll();
  });

  describe('malformed bytes', () => {
    const msgpackGarbage: [string, number[]][] = [
      ['the never-used byte 0xc1 followed by junk', [0xc1, 0xff, 0x00, 0x13]],
      ['a map that promises two entries and ends', [0x82, 0xa4, 0x74]],
      ['a string header with no body', [0xdb, 0x7f, 0xff, 0xff, 0xff]],
      ['an array32 header claiming 4 billion elements', [0xdd, 0xff, 0xff, 0xff, 0xff]],
      ['an unknown extension type', [0xc7, 0x01, 0x72, 0x00]],
      ['a valid number, not a map', [0x2a]],
      ['a valid map with no type', [0x81, 0xa1, 0x61, 0x01]],
      ['a valid map whose type is a number', [0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x07]],
      ['an empty frame', []],
    ];

    it.each(msgpackGarbage)('msgpack garbage (%s) → BAD_FRAME, the connection stays open', async (_name, bytes) => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorFor(bad, new Uint8Array(bytes));
      expect(err).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
      expect(typeof err.message).toBe('string');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a valid msgpack frame with trailing bytes → BAD_FRAME', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const frame = msgpackCodec.encode({ type: 'ping', id: 5 }) as Uint8Array;
      const err = await errorFor(bad, new Uint8Array([...frame, 0x00]));
      expect(err.code).toBe('BAD_FRAME');
      expect(bad.frames.some((f) => f.type === 'pong' && f.id === 5)).toBe(false);
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a text WebSocket message on the msgpack subprotocol → BAD_FRAME', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorFor(bad, JSON.stringify({ type: 'ping', id: 1 }));
      expect(err.code).toBe('BAD_FRAME');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it.each([
      ['truncated JSON', '{"type":"ping","id":'],
      ['not JSON at all', 'hello there'],
      ['a JSON array', '[{"type":"ping"}]'],
      ['JSON null', 'null'],
      ['a JSON object without type', '{"id":3}'],
    ])('invalid JSON on the JSON subprotocol (%s) → BAD_FRAME, the connection stays open', async (_name, text) => {
      const bad = await world.connect(s.patientToken, s.conv, JSON_SUBPROTOCOL);
      const err = await errorFor(bad, text);
      expect(err).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a binary message that is not UTF-8, on the JSON subprotocol → BAD_FRAME', async () => {
      const bad = await world.connect(s.patientToken, s.conv, JSON_SUBPROTOCOL);
      const err = await errorFor(bad, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
      expect(err.code).toBe('BAD_FRAME');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('garbage before auth is answered with BAD_FRAME and the client may still authenticate', async () => {
      const bad = await world.open();
      expect((await errorFor(bad, new Uint8Array([0xc1, 0xc1]))).code).toBe('BAD_FRAME');
      expect(await bad.auth(s.patientToken)).toMatchObject({ type: 'welcome', user: s.patientId });
      await world.stillChatting(p);
    });
  });

  describe('frames the server does not take', () => {
    it('an unknown frame type → UNKNOWN_TYPE carrying the id', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorForRequest(bad, { type: 'frobnicate', conv: s.conv });
      expect(err).toMatchObject({ code: 'UNKNOWN_TYPE' });
      expect(err.message).toContain('frobnicate');
      // A server-to-client frame type is not a client frame type either.
      expect(await errorForRequest(bad, { type: 'welcome' })).toMatchObject({ code: 'UNKNOWN_TYPE' });
      expect(await errorForRequest(bad, { type: 'ack', conv: s.conv })).toMatchObject({ code: 'UNKNOWN_TYPE' });
      // Without a usable id, the error carries none.
      const noId = await errorFor(bad, msgpackCodec.encode({ type: 'frobnicate', id: 'seven' }));
      expect(noId.code).toBe('UNKNOWN_TYPE');
      expect(noId.id).toBeUndefined();
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('an unknown frame type before auth → UNKNOWN_TYPE with the id', async () => {
      const bad = await world.open();
      const err = await errorForRequest(bad, { type: 'hello' });
      expect(err.code).toBe('UNKNOWN_TYPE');
      await world.stillChatting(p);
    });

    const wrongTypes: [string, (conv: string) => Record<string, unknown>, string][] = [
      ['join with a numeric conv', () => ({ type: 'join', conv: 42 }), 'conv'],
      ['join with a conv of forbidden characters', () => ({ type: 'join', conv: 'a b/c' }), 'conv'],
      ['join with a negative since', (conv) => ({ type: 'join', conv, since: -1 }), 'since'],
      ['join with a string since', (conv) => ({ type: 'join', conv, since: '3' }), 'since'],
      ['leave with conv null', () => ({ type: 'leave', conv: null }), 'conv'],
      ['send with a numeric text', (conv) => ({ type: 'send', conv, clientMsgId: 'x1', text: 42 }), 'text'],
      ['send with an empty text', (conv) => ({ type: 'send', conv, clientMsgId: 'x1', text: '' }), 'text'],
      [
        'send with an array clientMsgId',
        (conv) => ({ type: 'send', conv, clientMsgId: ['x'], text: 'hi' }),
        'clientMsgId',
      ],
      [
        'send with a clientMsgId holding a space',
        (conv) => ({ type: 'send', conv, clientMsgId: 'a b', text: 'hi' }),
        'clientMsgId',
      ],
      [
        'send with a 65-character clientMsgId',
        (conv) => ({ type: 'send', conv, clientMsgId: 'x'.repeat(65), text: 'hi' }),
        'clientMsgId',
      ],
      ['history with a limit over the page size', (conv) => ({ type: 'history', conv, limit: 100_000 }), 'limit'],
      ['history with a fractional before', (conv) => ({ type: 'history', conv, before: 1.5 }), 'before'],
      ['auth with a numeric token', () => ({ type: 'auth', token: 12345 }), 'token'],
    ];

    it.each(wrongTypes)('%s → INVALID_FIELD naming `%s`', async (_name, build, field) => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorForRequest(bad, build(s.conv));
      expect(err.code).toBe('INVALID_FIELD');
      expect(err.message).toContain(`\`${field}\``);
      expect(typeof err.id).toBe('number');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('frames with a wrong request id or no request id → INVALID_FIELD naming `id`, with no id in the reply', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      for (const id of ['1', -1, 2 ** 31, 1.5, null]) {
        const err = await errorFor(bad, msgpackCodec.encode({ type: 'join', id, conv: s.conv }));
        expect(err).toMatchObject({ code: 'INVALID_FIELD' });
        expect(err.message).toContain('`id`');
        expect(err.id).toBeUndefined();
      }
      const missing = await errorFor(
        bad,
        msgpackCodec.encode({ type: 'send', conv: s.conv, clientMsgId: 'a', text: 'b' }),
      );
      expect(missing.message).toContain('`id`');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('typing with a non-boolean active → INVALID_FIELD naming `active`', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorFor(bad, msgpackCodec.encode({ type: 'typing', conv: s.conv, active: 'yes' }));
      expect(err).toMatchObject({ code: 'INVALID_FIELD' });
      expect(err.message).toContain('`active`');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a text with a lone surrogate (JSON subprotocol) → INVALID_FIELD naming `text`', async () => {
      const bad = await world.connect(s.patientToken, s.conv, JSON_SUBPROTOCOL);
      const err = await errorFor(
        bad,
        `{"type":"send","id":9,"conv":"${s.conv}","clientMsgId":"ls-1","text":"a\\ud800b"}`,
      );
      expect(err).toMatchObject({ code: 'INVALID_FIELD', id: 9 });
      expect(err.message).toContain('`text`');
      await expectOpen(bad);
      await world.stillChatting(p);
    });
  });

  describe('sizes', () => {
    const max = DEFAULT_LIMITS.maxFrameBytes;

    /** A ping frame padded (with a field the server ignores) to exactly `size` bytes of msgpack. */
    function pingOfSize(id: number, size: number): Uint8Array {
      let pad = size - (msgpackCodec.encode({ type: 'ping', id, pad: '' }) as Uint8Array).byteLength - 5;
      for (;;) {
        const bytes = msgpackCodec.encode({ type: 'ping', id, pad: 'x'.repeat(pad) }) as Uint8Array;
        if (bytes.byteLength === size) return bytes;
        pad += size - bytes.byteLength;
      }
    }

    it('a frame of exactly maxFrameBytes is processed; one byte more → FRAME_TOO_LARGE and the connection stays open', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      bad.sendRaw(pingOfSize(71, max));
      expect(await bad.waitFor((f) => 'id' in f && f.id === 71)).toMatchObject({ type: 'pong', id: 71 });

      const from = bad.frames.length;
      const err = await errorFor(bad, pingOfSize(72, max + 1));
      expect(err.code).toBe('FRAME_TOO_LARGE');
      expect(bad.frames.slice(from).some((f) => f.type === 'pong' && f.id === 72)).toBe(false);
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a frame of exactly twice maxFrameBytes → FRAME_TOO_LARGE, still open', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorFor(bad, new Uint8Array(2 * max).fill(0x61));
      expect(err.code).toBe('FRAME_TOO_LARGE');
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a frame over twice maxFrameBytes → the connection is closed with 1009', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      bad.sendRaw(new Uint8Array(2 * max + 1).fill(0x61));
      expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.MESSAGE_TOO_BIG.code);
      await world.stillChatting(p);
    });

    it('an over-long text → TEXT_TOO_LONG; a text of exactly maxTextLength code points (astral) is stored', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const err = await errorForRequest(bad, {
        type: 'send',
        conv: s.conv,
        clientMsgId: 'long-1',
        text: 'a'.repeat(DEFAULT_LIMITS.maxTextLength + 1),
      });
      expect(err.code).toBe('TEXT_TOO_LONG');
      expect(typeof err.id).toBe('number');

      // 10,000 code points of 2 UTF-16 units each: long in JavaScript's `length`, but within the limit.
      const astral = '\u{1F642}'.repeat(DEFAULT_LIMITS.maxTextLength);
      const ack = (await bad.sendText(s.conv, astral, 'long-2')) as AckFrame;
      expect(ack.type).toBe('ack');
      const got = await p.therapist.waitForSeq(s.conv, ack.seq);
      expect(got.text).toBe(astral);
      // One code point more is too long.
      const over = await errorForRequest(bad, {
        type: 'send',
        conv: s.conv,
        clientMsgId: 'long-3',
        text: astral + 'a',
      });
      expect(over.code).toBe('TEXT_TOO_LONG');
      await expectOpen(bad);
      await world.stillChatting(p);
    });
  });

  describe('authentication', () => {
    it('a first frame that is not auth (join) → close 4001', async () => {
      const bad = await world.open();
      bad.send({ type: 'join', id: 1, conv: s.conv });
      expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.UNAUTHENTICATED.code);
      expect(hasWelcome(bad)).toBe(false);
      expect(bad.frames.some((f) => f.type === 'joined')).toBe(false);
      await world.stillChatting(p);
    });

    it('a first frame that is send → close 4001, and nothing is stored', async () => {
      const bad = await world.open();
      bad.send({ type: 'send', id: 1, conv: s.conv, clientMsgId: 'sneaky', text: 'unauthenticated text' });
      expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.UNAUTHENTICATED.code);
      await world.stillChatting(p);
      const page = (await p.patient.request({ type: 'history', conv: s.conv })) as HistoryPageFrame;
      expect(page.messages.some((m) => m.clientMsgId === 'sneaky')).toBe(false);
    });

    async function expectRefused(
      token: string,
      code: ErrorCode = 'INVALID_TOKEN',
      close: number = CLOSE_CODES.UNAUTHENTICATED.code,
    ) {
      const bad = await world.open();
      const reply = await bad.auth(token);
      expect(reply).toMatchObject({ type: 'error', code });
      expect(typeof (reply as ErrorFrame).id).toBe('number');
      expect((await closedWithin(bad)).code).toBe(close);
      expect(hasWelcome(bad)).toBe(false);
    }

    it('a garbage token → INVALID_TOKEN, then close 4001', async () => {
      await expectRefused('not-a-jwt');
      await expectRefused('a.b.c');
      await world.stillChatting(p);
    });

    it('a token signed with another data directory’s key → INVALID_TOKEN, then close 4001', async () => {
      const otherDir = tempDataDir();
      try {
        await expectRefused(await mintToken(otherDir, s.patientId, 'patient'));
      } finally {
        fs.rmSync(otherDir, { recursive: true, force: true });
      }
      await world.stillChatting(p);
    });

    it('an unsigned token (alg none) → INVALID_TOKEN, then close 4001', async () => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
        sub: s.patientId,
        role: 'patient',
        iss: 'therapy-chat',
        aud: 'therapy-chat',
        iat: now,
        exp: now + 3600,
      })}.`;
      await expectRefused(unsigned);
      await world.stillChatting(p);
    });

    it('a token for the wrong issuer or audience → INVALID_TOKEN, then close 4001', async () => {
      await expectRefused(await mintToken(ts.dataDir, s.patientId, 'patient', { issuer: 'someone-else' }));
      await expectRefused(await mintToken(ts.dataDir, s.patientId, 'patient', { audience: 'another-service' }));
      await world.stillChatting(p);
    });

    it('a token expired beyond the clock tolerance → TOKEN_EXPIRED, then close 4101', async () => {
      await expectRefused(
        await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -60 }),
        'TOKEN_EXPIRED',
        CLOSE_CODES.TOKEN_EXPIRED.code,
      );
      await world.stillChatting(p);
    });

    it('a token expired within the clock tolerance is accepted by the verifier but the connection closes with 4101', async () => {
      const bad = await world.open();
      bad.send({ type: 'auth', id: 1, token: await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -2 }) });
      expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.TOKEN_EXPIRED.code);
      expect(hasWelcome(bad)).toBe(false);
      await world.stillChatting(p);
    });

    it('a token that expires mid-session → close 4101', async () => {
      const bad = await world.open();
      const welcome = (await bad.auth(
        await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 2 }),
      )) as WelcomeFrame;
      expect(welcome.type).toBe('welcome');
      expect(welcome.expiresAt).toBeLessThanOrEqual(Date.now() + 2000);
      expect(await bad.join(s.conv)).toMatchObject({ type: 'joined' });
      const closed = await closedWithin(bad, 4000);
      expect(closed.code).toBe(CLOSE_CODES.TOKEN_EXPIRED.code);
      expect(Date.now()).toBeGreaterThanOrEqual(welcome.expiresAt);
      await world.stillChatting(p);
    });

    it('a refresh auth with a token for a different user → ALREADY_AUTHENTICATED, the connection keeps its identity', async () => {
      const bad = await world.connect(s.patientToken);
      const other = await errorForRequest(bad, { type: 'auth', token: s.therapistToken });
      expect(other.code).toBe('ALREADY_AUTHENTICATED');
      // Same user id, a role the account does not have: the token itself is refused.
      const otherRole = await errorForRequest(bad, {
        type: 'auth',
        token: await mintToken(ts.dataDir, s.patientId, 'therapist'),
      });
      expect(otherRole.code).toBe('INVALID_TOKEN');
      // A refresh for the same user is fine.
      expect(await bad.auth(await mintToken(ts.dataDir, s.patientId, 'patient'))).toMatchObject({
        type: 'welcome',
        user: s.patientId,
        role: 'patient',
      });
      // Still the patient: it joins as the patient and what it sends arrives as from the patient.
      expect(await bad.join(s.conv)).toMatchObject({ type: 'joined' });
      const ack = (await bad.sendText(s.conv, 'who am I')) as AckFrame;
      expect(ack.type).toBe('ack');
      expect(await p.therapist.waitForSeq(s.conv, ack.seq)).toMatchObject({ from: s.patientId, role: 'patient' });
      await world.stillChatting(p);
    });

    // The verifier tolerates 5 s of clock skew; a token already past `exp` must still be refused as expired, and a
    // refused refresh leaves a connection whose current token is valid alone.
    it('a refresh with a token just past its expiry (inside the clock tolerance) does not close a valid connection', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const stale = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -2 });
      const reply = await bad.request({ type: 'auth', token: stale }, 2000).catch(() => undefined);
      expect(reply).toMatchObject({ type: 'error', code: 'TOKEN_EXPIRED' });
      await expectOpen(bad);
    });

    it('a refresh with a token expired beyond the tolerance → TOKEN_EXPIRED, the connection keeps its valid token', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const stale = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -60 });
      expect(await errorForRequest(bad, { type: 'auth', token: stale })).toMatchObject({ code: 'TOKEN_EXPIRED' });
      await expectOpen(bad);
      expect(await bad.sendText(s.conv, 'after a stale refresh')).toMatchObject({ type: 'ack' });
      await world.stillChatting(p);
    });

    it('a refresh auth with an invalid token → INVALID_TOKEN, the connection stays open', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      expect(await errorForRequest(bad, { type: 'auth', token: 'garbage' })).toMatchObject({ code: 'INVALID_TOKEN' });
      await expectOpen(bad);
      expect(await bad.sendText(s.conv, 'after a bad refresh')).toMatchObject({ type: 'ack' });
      await world.stillChatting(p);
    });
  });

  describe('access', () => {
    it('joining another case’s conversation → FORBIDDEN', async () => {
      const other = await ts.seed();
      const bad = await world.connect(s.patientToken);
      expect(await bad.join(other.conv)).toMatchObject({ type: 'error', code: 'FORBIDDEN', conv: other.conv });
      expect(await bad.join(other.threadId)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
      // Not joined, so it cannot send there either.
      expect(await bad.sendText(other.conv, 'let me in')).toMatchObject({ type: 'error', code: 'NOT_JOINED' });
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('a therapist token minted for the patient’s id → INVALID_TOKEN at auth (not the account’s role), close 4001', async () => {
      const bad = await world.open();
      expect(await bad.auth(await mintToken(ts.dataDir, s.patientId, 'therapist'))).toMatchObject({
        type: 'error',
        code: 'INVALID_TOKEN',
      });
      expect((await bad.closed).code).toBe(4001);
      await world.stillChatting(p);
    });

    it('joining an unknown conversation → NOT_FOUND', async () => {
      const bad = await world.connect(s.patientToken);
      expect(await bad.join('cv_does_not_exist')).toMatchObject({
        type: 'error',
        code: 'NOT_FOUND',
        conv: 'cv_does_not_exist',
      });
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('sending, leaving or reading history before joining → NOT_JOINED', async () => {
      const bad = await world.connect(s.patientToken);
      expect(await bad.sendText(s.conv, 'too early')).toMatchObject({
        type: 'error',
        code: 'NOT_JOINED',
        conv: s.conv,
      });
      expect(await bad.request({ type: 'leave', conv: s.conv })).toMatchObject({ type: 'error', code: 'NOT_JOINED' });
      expect(await bad.request({ type: 'history', conv: s.conv })).toMatchObject({ type: 'error', code: 'NOT_JOINED' });
      await expectOpen(bad);
      await world.stillChatting(p);
    });

    it('after the appointment ends: a client joined before gets CONVERSATION_CLOSED; a fresh join says closed and sends are refused', async () => {
      const before = await world.connect(s.patientToken, s.conv);
      expect(await before.sendText(s.conv, 'before the end', 'end-0')).toMatchObject({ type: 'ack' });
      await ts.server.store.setAppointmentStatus(s.appointmentId, 'ended', Date.now());

      expect(await before.sendText(s.conv, 'after the end', 'end-1')).toMatchObject({
        type: 'error',
        code: 'CONVERSATION_CLOSED',
        conv: s.conv,
        clientMsgId: 'end-1',
      });

      const fresh = await world.connect(s.patientToken);
      const joined = (await fresh.join(s.conv)) as JoinedFrame;
      expect(joined).toMatchObject({ type: 'joined', conv: s.conv, closed: true });
      expect(await fresh.sendText(s.conv, 'after the end too', 'end-2')).toMatchObject({
        type: 'error',
        code: 'CONVERSATION_CLOSED',
      });
      // Still readable, and nothing after the end was stored.
      const page = (await fresh.request({ type: 'history', conv: s.conv })) as HistoryPageFrame;
      expect(page.type).toBe('history');
      expect(page.messages.map((m) => m.clientMsgId)).toEqual(['end-0']);
      expect(joined.lastSeq).toBe(1);
      await expectOpen(before);

      // The transcript is closed; the pair goes on in the case's thread.
      await world.stillChatting(await world.pair(s, s.threadId));
    });

    it('a replayed clientMsgId with different text → CLIENT_MSG_ID_REUSED and the stored text is unchanged', async () => {
      const bad = await world.connect(s.patientToken, s.conv);
      const first = (await bad.sendText(s.conv, 'the original words', 'dup-1')) as AckFrame;
      expect(first.type).toBe('ack');
      // The same text again is an idempotent resend: the same ack.
      expect(await bad.sendText(s.conv, 'the original words', 'dup-1')).toMatchObject({
        type: 'ack',
        seq: first.seq,
        ts: first.ts,
      });
      expect(await bad.sendText(s.conv, 'different words', 'dup-1')).toMatchObject({
        type: 'error',
        code: 'CLIENT_MSG_ID_REUSED',
        conv: s.conv,
        clientMsgId: 'dup-1',
      });
      await world.stillChatting(p);

      const page = (await bad.request({ type: 'history', conv: s.conv })) as HistoryPageFrame;
      const stored = page.messages.filter((m) => m.clientMsgId === 'dup-1');
      expect(stored).toEqual([
        expect.objectContaining({ seq: first.seq, text: 'the original words', from: s.patientId }),
      ]);
      expect(p.therapist.messages(s.conv).filter((m) => m.clientMsgId === 'dup-1')).toHaveLength(1);
    });

    it('more than maxConversationsPerConnection joins → TOO_MANY_CONVERSATIONS; leaving one makes room', async () => {
      const bad = await world.open();
      const welcome = (await bad.auth(s.patientToken)) as WelcomeFrame;
      const max = welcome.limits.maxConversationsPerConnection;
      const convs = [s.conv, s.threadId];
      while (convs.length < max + 1) {
        convs.push((await scheduleAppointment(ts.server.store, s.caseId, { status: 'live' })).conversationId);
      }
      for (const conv of convs.slice(0, max)) expect(await bad.join(conv)).toMatchObject({ type: 'joined', conv });
      const last = convs[max]!;
      expect(await bad.join(last)).toMatchObject({ type: 'error', code: 'TOO_MANY_CONVERSATIONS', conv: last });
      // Re-joining one already joined is not a new conversation.
      expect(await bad.join(s.threadId)).toMatchObject({ type: 'joined', conv: s.threadId });
      expect(await bad.request({ type: 'leave', conv: s.threadId })).toMatchObject({ type: 'left' });
      expect(await bad.join(last)).toMatchObject({ type: 'joined', conv: last });
      await world.stillChatting(p);
    });
  });

  describe('the upgrade', () => {
    it('an unsupported subprotocol → HTTP 400', async () => {
      expect(await upgradeStatus(ts.url, 'therapy-chat.v2.msgpack')).toBe(400);
      expect(await upgradeStatus(ts.url, ['chat', 'superchat'])).toBe(400);
      await world.stillChatting(p);
    });

    it('no subprotocol gets msgpack; a supported one among unsupported ones is picked', async () => {
      const plain = await world.open(null);
      expect(plain.ws.protocol).toBe('');
      expect(await plain.auth(s.patientToken)).toMatchObject({ type: 'welcome', user: s.patientId });

      const ws = new WebSocket(ts.url, ['therapy-chat.v2.msgpack', JSON_SUBPROTOCOL]);
      await within(
        new Promise<void>((resolve, reject) => {
          ws.on('open', () => resolve());
          ws.on('error', reject);
        }),
        5000,
        'the upgrade',
      );
      expect(ws.protocol).toBe(JSON_SUBPROTOCOL);
      ws.close();
      await world.stillChatting(p);
    });

    it('an upgrade on a path other than /ws → HTTP 404', async () => {
      const base = ts.url.replace(/\/ws$/, '');
      expect(await upgradeStatus(`${base}/`)).toBe(404);
      expect(await upgradeStatus(`${base}/ws/extra`)).toBe(404);
      expect(await upgradeStatus(`${base}/wss`)).toBe(404);
      await world.stillChatting(p);
    });
  });
});

// ------------------------------------------------------------------------------------------------ rate limits

describe('flooding past the rate limit', () => {
  const RATE = 5;
  const BURST = 5;
  let world: World;
  let ts: TestServer;
  let s: Session;
  let p: Pair;

  beforeAll(async () => {
    ts = await startServer({ FRAMES_PER_SECOND: String(RATE), FRAME_BURST: String(BURST) });
    world = new World(ts);
  });
  afterAll(async () => {
    await ts.stop();
  });
  beforeEach(async () => {
    s = await ts.seed();
    p = await world.pair(s);
  });
  afterEach(async () => {
    await world.closeAll();
  });

  it('frames past the burst → RATE_LIMITED with retryAfterMs; after waiting, frames are taken again', async () => {
    const bad = await world.connect(s.patientToken, s.conv); // 2 of the 5 tokens spent
    const from = bad.frames.length;
    for (let i = 0; i < 7; i++) bad.send({ type: 'ping', id: 1000 + i });
    const limited = await nextError(bad, from, (e) => e.code === 'RATE_LIMITED');
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(1000 / RATE);
    // Wait for all seven to be answered, one way or the other.
    await bad.waitFor(() => bad.frames.length - from >= 7);
    const answers = bad.frames.slice(from);
    const pongs = answers.filter((f) => f.type === 'pong').length;
    const refused = answers.filter((f) => f.type === 'error' && f.code === 'RATE_LIMITED').length;
    expect(pongs + refused).toBe(7);
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(refused).toBeLessThanOrEqual(BURST);
    // Each refusal names the frame it dropped, so the client knows what to resend.
    const refusedIds = answers.flatMap((f) => (f.type === 'error' && f.code === 'RATE_LIMITED' ? [f.id] : []));
    const pongIds = answers.flatMap((f) => (f.type === 'pong' ? [f.id] : []));
    expect([...refusedIds, ...pongIds].sort()).toEqual(Array.from({ length: 7 }, (_, i) => 1000 + i));
    expect(bad.isClosed).toBe(false);

    await new Promise((r) => setTimeout(r, 1000)); // the bucket refills
    await expectOpen(bad);
    await world.stillChatting(p);
  });

  it('continued flooding → close 4203', async () => {
    const bad = await world.connect(s.patientToken, s.conv);
    for (let i = 0; i < 50; i++) bad.send({ type: 'ping', id: 2000 + i });
    expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.FLOODING.code);
    expect(bad.errors().filter((e) => e.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(1);
    await world.stillChatting(p);
  });

  it('flooding before auth → close 4203', async () => {
    const bad = await world.open();
    for (let i = 0; i < 50; i++) bad.sendRaw(new Uint8Array([0xc1]));
    expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.FLOODING.code);
    await world.stillChatting(p);
  });
});

// ------------------------------------------------------------------------------------------------ history page size

describe('a server configured with a small history page', () => {
  let world: World;
  let ts: TestServer;
  let s: Session;

  beforeAll(async () => {
    ts = await startServer({ MAX_HISTORY_PAGE: '5' });
    world = new World(ts);
    s = await ts.seed();
  });
  afterAll(async () => {
    await world.closeAll();
    await ts.stop();
  });

  it('a history limit over the configured page → INVALID_FIELD naming `limit`; pages are cut to the configured size', async () => {
    const p = await world.pair(s);
    const welcome = p.patient.frames.find((f): f is WelcomeFrame => f.type === 'welcome')!;
    expect(welcome.limits.maxHistoryPage).toBe(5);
    for (let i = 0; i < 7; i++) expect(await p.patient.sendText(s.conv, `line ${i}`)).toMatchObject({ type: 'ack' });
    const err = await errorForRequest(p.patient, { type: 'history', conv: s.conv, limit: 6 });
    expect(err.code).toBe('INVALID_FIELD');
    expect(err.message).toContain('`limit`');
    const page = (await p.patient.request({ type: 'history', conv: s.conv })) as HistoryPageFrame;
    expect(page.messages.map((m) => m.seq)).toEqual([3, 4, 5, 6, 7]);
    expect(page.hasMore).toBe(true);
    expect(await p.patient.request({ type: 'history', conv: s.conv, limit: 5 })).toMatchObject({ type: 'history' });
    await world.stillChatting(p);
  });
});

// ------------------------------------------------------------------------------------------------ auth timeout

describe('no auth in time', () => {
  let world: World;
  let ts: TestServer;
  let s: Session;

  beforeAll(async () => {
    ts = await startServer({ AUTH_TIMEOUT_MS: '300' });
    world = new World(ts);
    s = await ts.seed();
  });
  afterAll(async () => {
    await world.closeAll();
    await ts.stop();
  });

  it('a silent connection → close 4202; pings do not count as auth', async () => {
    const p = await world.pair(s);
    const silent = await world.open();
    const pinging = await world.open();
    expect(await pinging.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect((await closedWithin(silent, 3000)).code).toBe(CLOSE_CODES.AUTH_TIMEOUT.code);
    expect((await closedWithin(pinging, 3000)).code).toBe(CLOSE_CODES.AUTH_TIMEOUT.code);
    // Authenticated connections are not affected by the timer.
    await new Promise((r) => setTimeout(r, 400));
    await world.stillChatting(p);
  });
});

// ------------------------------------------------------------------------------------------------ configured issuer

describe('a server configured with its own token issuer and audience', () => {
  let world: World;
  let ts: TestServer;
  let s: Session;

  beforeAll(async () => {
    ts = await startServer({ TOKEN_ISSUER: 'clinic-idp', TOKEN_AUDIENCE: 'clinic-chat' });
    world = new World(ts);
    s = await ts.seed();
  });
  afterAll(async () => {
    await world.closeAll();
    await ts.stop();
  });

  it('tokens of the default issuer or audience → INVALID_TOKEN, then close 4001', async () => {
    const good = { issuer: 'clinic-idp', audience: 'clinic-chat' };
    const session: Session = {
      ...s,
      therapistToken: await mintToken(ts.dataDir, s.therapistId, 'therapist', good),
      patientToken: await mintToken(ts.dataDir, s.patientId, 'patient', good),
    };
    const p = await world.pair(session);

    for (const token of [
      s.patientToken, // issuer and audience 'therapy-chat'
      await mintToken(ts.dataDir, s.patientId, 'patient', { issuer: 'clinic-idp' }),
      await mintToken(ts.dataDir, s.patientId, 'patient', { audience: 'clinic-chat' }),
    ]) {
      const bad = await world.open();
      expect(await bad.auth(token)).toMatchObject({ type: 'error', code: 'INVALID_TOKEN' });
      expect((await closedWithin(bad)).code).toBe(CLOSE_CODES.UNAUTHENTICATED.code);
    }
    await world.stillChatting(p);
  });
});
