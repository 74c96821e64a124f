/**
 * The logs never hold clinical text or credentials. A server at LOG_LEVEL=trace runs a whole session, its error
 * paths included, and its captured pino output is searched for the message texts and every token used; the test also
 * checks that the logs do hold the entries it expects, so that an empty or broken log cannot pass it.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { JSON_SUBPROTOCOL, msgpackCodec, type AckFrame } from '@therapy-chat/protocol';
import { mintToken, type Session, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

interface LogRecord {
  readonly level: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

let ts: TestServer;
let s: Session;
const clients: TestClient[] = [];

async function open(subprotocol?: typeof JSON_SUBPROTOCOL): Promise<TestClient> {
  const c = await TestClient.connect(ts.url, subprotocol);
  clients.push(c);
  return c;
}

function records(): LogRecord[] {
  return ts.logs.lines.map((line) => JSON.parse(line) as LogRecord);
}

/** A token and the parts of it that must not leak on their own either (payload and signature segments). */
function secretsOf(token: string): string[] {
  const parts = token.split('.').filter((p) => p.length >= 16);
  return [token, ...parts.slice(1)];
}

beforeAll(async () => {
  ts = await startServer({ LOG_LEVEL: 'trace' });
  s = await ts.seed();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await ts.stop();
});

describe('logging', () => {
  it('a whole session, with its error paths, logs neither message text nor tokens', async () => {
    expect(ts.server.config.logLevel).toBe('trace');
    const marker = `MARKER-${randomUUID()}`;
    const texts: string[] = [];
    const tokens: string[] = [s.patientToken, s.therapistToken];

    // Auth and join, on both codecs.
    const therapist = await open();
    const patient = await open(JSON_SUBPROTOCOL);
    expect(await therapist.auth(s.therapistToken)).toMatchObject({ type: 'welcome' });
    expect(await patient.auth(s.patientToken)).toMatchObject({ type: 'welcome' });
    expect(await therapist.join(s.conv)).toMatchObject({ type: 'joined' });
    expect(await patient.join(s.conv)).toMatchObject({ type: 'joined' });

    // Messages both ways, delivered live.
    for (let i = 0; i < 3; i++) {
      const text = `${marker} patient says ${i}: I could not sleep`;
      texts.push(text);
      const ack = (await patient.sendText(s.conv, text, `p-${i}`)) as AckFrame;
      expect(ack).toMatchObject({ type: 'ack' });
      await therapist.waitForSeq(s.conv, ack.seq);
    }
    const reply = `${marker} therapist answers: tell me more`;
    texts.push(reply);
    const replyAck = (await therapist.sendText(s.conv, reply)) as AckFrame;
    await patient.waitForSeq(s.conv, replyAck.seq);

    // A replayed clientMsgId with a different text.
    const reused = `${marker} a different text under p-0`;
    texts.push(reused);
    expect(await patient.sendText(s.conv, reused, 'p-0')).toMatchObject({
      type: 'error',
      code: 'CLIENT_MSG_ID_REUSED',
    });

    // A text that is too long, and one that is not decodable (the decoder's message echoes the frame to the client).
    const tooLong = `${marker} ${'x'.repeat(10_001)}`;
    texts.push(tooLong);
    expect(await patient.sendText(s.conv, tooLong)).toMatchObject({ type: 'error', code: 'TEXT_TOO_LONG' });
    const undecodable = `${marker} inside a broken frame`;
    texts.push(undecodable);
    const frameBytes = msgpackCodec.encode({
      type: 'send',
      id: 99,
      conv: s.conv,
      clientMsgId: 'b-1',
      text: undecodable,
    });
    const from = therapist.frames.length;
    therapist.sendRaw(new Uint8Array([...(frameBytes as Uint8Array), 0xc1]));
    await therapist.waitFor((f) => f.type === 'error' && f.code === 'BAD_FRAME', 5000, from);
    // A send to a conversation the sender has not joined, and a typing notice.
    const notJoined = `${marker} to nowhere`;
    texts.push(notJoined);
    expect(await patient.sendText(s.threadId, notJoined)).toMatchObject({ type: 'error', code: 'NOT_JOINED' });
    patient.send({ type: 'typing', conv: s.conv, active: true });

    // History (the decrypt path).
    const page = await patient.request({ type: 'history', conv: s.conv });
    expect(page.type).toBe('history');

    // Bad tokens: garbage, a foreign key, the wrong issuer, expired; each closes its connection.
    const foreignDir = tempDataDir();
    const badTokens = [
      `garbage-token-${randomUUID()}`,
      await mintToken(foreignDir, s.patientId, 'patient'),
      await mintToken(ts.dataDir, s.patientId, 'patient', { issuer: 'elsewhere' }),
      await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: -60 }),
    ];
    fs.rmSync(foreignDir, { recursive: true, force: true });
    tokens.push(...badTokens);
    for (const token of badTokens) {
      const c = await open();
      expect(await c.auth(token)).toMatchObject({ type: 'error' });
      await c.closed;
    }

    // Refreshes: one for the same user (accepted), one for another user (refused), one garbage.
    const refresh = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 7200 });
    const otherUser = await mintToken(ts.dataDir, s.therapistId, 'therapist', { ttlSeconds: 7200 });
    const garbageRefresh = `garbage-refresh-${randomUUID()}`;
    tokens.push(refresh, otherUser, garbageRefresh);
    expect(await patient.auth(refresh)).toMatchObject({ type: 'welcome' });
    expect(await patient.auth(otherUser)).toMatchObject({ type: 'error', code: 'ALREADY_AUTHENTICATED' });
    expect(await patient.auth(garbageRefresh)).toMatchObject({ type: 'error', code: 'INVALID_TOKEN' });

    // A join that is refused (logged with its reason), and an unauthenticated first frame.
    const other = await ts.seed();
    expect(await patient.join(other.conv)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    const early = await open();
    const earlyText = `${marker} sent before auth`;
    texts.push(earlyText);
    early.send({ type: 'send', id: 1, conv: s.conv, clientMsgId: 'early', text: earlyText });
    expect((await early.closed).code).toBe(4001);

    // Tokens where a careless client might put them: an Authorization header on HTTP, a query on the upgrade.
    const headerToken = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 7201 });
    tokens.push(headerToken);
    expect(
      (await fetch(`${ts.httpUrl}/no-such-route`, { headers: { authorization: `Bearer ${headerToken}` } })).status,
    ).toBe(404);
    const queryToken = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 7202 });
    tokens.push(queryToken);
    const ws = new WebSocket(`${ts.url}?token=${queryToken}`, JSON_SUBPROTOCOL);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    ws.close();

    // A connection closed by the client, so that its close is logged too.
    await patient.close();
    await new Promise((r) => setTimeout(r, 100));

    // ---- the logs hold what they should (so that this test can fail) ...
    const recs = records();
    expect(recs.length).toBeGreaterThan(10);
    const authenticated = recs.filter((r) => r.msg === 'authenticated');
    expect(authenticated.map((r) => r['user'])).toEqual(expect.arrayContaining([s.patientId, s.therapistId]));
    expect(recs.filter((r) => r.msg === 'authentication refused').length).toBeGreaterThanOrEqual(badTokens.length + 1);
    expect(recs.some((r) => r.msg === 'join refused' && r['conv'] === other.conv && r['user'] === s.patientId)).toBe(
      true,
    );
    expect(recs.some((r) => r.msg === 'closing connection' && r['code'] === 4001)).toBe(true);
    expect(recs.some((r) => r.msg === 'connection opened')).toBe(true); // debug level

    // ---- ... and none of the secrets.
    const text = ts.logs.text;
    expect(text).not.toContain(marker);
    for (const t of texts) expect(text).not.toContain(t.slice(0, 60));
    for (const token of tokens)
      for (const secret of secretsOf(token)) expect(text, `a token leaked: ${secret}`).not.toContain(secret);
  });

  // A client or proxy that drops the upgrade may send `GET /ws?token=…` as plain HTTP: request logs carry the path
  // without its query string, and the 404 handler does not repeat the URL.
  it('a token in the query string of an HTTP request is not logged', async () => {
    const token = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 7203 });
    const res = await fetch(`${ts.httpUrl}/ws?token=${token}`);
    expect(res.status).toBe(404);
    await new Promise((r) => setTimeout(r, 50));
    for (const secret of secretsOf(token)) expect(ts.logs.text).not.toContain(secret);
  });
});
