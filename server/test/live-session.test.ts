import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  AckFrame,
  HistoryPageFrame,
  JoinedFrame,
  MessageFrame,
  PresenceFrame,
  WelcomeFrame,
} from '@therapy-chat/protocol';
import { JSON_SUBPROTOCOL } from '@therapy-chat/protocol';
import { startServer, type Session, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

let ts: TestServer;
let s: Session;
const clients: TestClient[] = [];

async function connect(token: string, subprotocol = undefined as undefined | typeof JSON_SUBPROTOCOL) {
  const c = await TestClient.connect(ts.url, subprotocol);
  clients.push(c);
  const welcome = await c.auth(token);
  expect(welcome.type).toBe('welcome');
  return c;
}

beforeEach(async () => {
  ts = await startServer();
  s = await ts.seed();
});

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await ts.stop();
});

describe('a live session between a patient and a therapist', () => {
  it('welcomes an authenticated user with their identity, limits and heartbeat', async () => {
    const c = await TestClient.connect(ts.url);
    clients.push(c);
    const welcome = (await c.auth(s.patientToken)) as WelcomeFrame;
    expect(welcome).toMatchObject({ type: 'welcome', user: s.patientId, role: 'patient' });
    expect(welcome.limits.maxTextLength).toBe(10_000);
    expect(welcome.heartbeatMs).toBeGreaterThan(0);
    expect(welcome.expiresAt).toBeGreaterThan(Date.now());
  });

  it('delivers each message to both sides with the same seq, after an ack that carries it', async () => {
    const therapist = await connect(s.therapistToken);
    const patient = await connect(s.patientToken, JSON_SUBPROTOCOL);
    expect(((await therapist.join(s.conv)) as JoinedFrame).lastSeq).toBe(0);
    expect(await patient.join(s.conv)).toMatchObject({ type: 'joined', conv: s.conv, lastSeq: 0, closed: false });

    const ack1 = (await patient.sendText(s.conv, 'I slept badly this week.')) as AckFrame;
    expect(ack1).toMatchObject({ type: 'ack', conv: s.conv, seq: 1 });
    const ack2 = (await therapist.sendText(s.conv, 'Tell me more about the nights.')) as AckFrame;
    expect(ack2.seq).toBe(2);

    const m2 = await patient.waitForSeq(s.conv, 2);
    expect(m2).toMatchObject({ from: s.therapistId, role: 'therapist', text: 'Tell me more about the nights.' });
    await therapist.waitForSeq(s.conv, 2);
    for (const c of [patient, therapist]) {
      expect(c.messages(s.conv).map((m: MessageFrame) => [m.seq, m.text])).toEqual([
        [1, 'I slept badly this week.'],
        [2, 'Tell me more about the nights.'],
      ]);
    }
    expect(m2.ts).toBe(ack2.ts);
  });

  it('tells members who is present, and relays typing to the other side only', async () => {
    const therapist = await connect(s.therapistToken);
    await therapist.join(s.conv);
    const patient = await connect(s.patientToken);
    await patient.join(s.conv);
    const presence = await therapist.waitFor<PresenceFrame>((f) => f.type === 'presence' && f.members.length === 2);
    expect(presence.members.map((m) => m.role).sort()).toEqual(['patient', 'therapist']);

    patient.send({ type: 'typing', conv: s.conv, active: true });
    const typing = await therapist.waitFor((f) => f.type === 'typing');
    expect(typing).toMatchObject({ type: 'typing', user: s.patientId, role: 'patient', active: true });
    await therapist.sendText(s.conv, 'sync point');
    await patient.waitForSeq(s.conv, 1);
    expect(patient.frames.some((f) => f.type === 'typing')).toBe(false);

    await patient.close();
    const after = await therapist.waitFor<PresenceFrame>((f) => f.type === 'presence' && f.members.length === 1);
    expect(after.members).toEqual([{ user: s.therapistId, role: 'therapist' }]);
  });

  it('pages history backwards', async () => {
    const patient = await connect(s.patientToken);
    await patient.join(s.conv);
    for (let i = 1; i <= 5; i++) await patient.sendText(s.conv, `line ${i}`);
    const page = await patient.request<HistoryPageFrame>({ type: 'history', conv: s.conv, limit: 2 });
    expect(page).toMatchObject({ type: 'history', hasMore: true });
    expect((page as HistoryPageFrame).messages.map((m) => m.seq)).toEqual([4, 5]);
    const older = await patient.request<HistoryPageFrame>({ type: 'history', conv: s.conv, before: 4, limit: 10 });
    expect((older as HistoryPageFrame).messages.map((m) => m.text)).toEqual(['line 1', 'line 2', 'line 3']);
    expect(older).toMatchObject({ hasMore: false });
  });
});

describe('pipelining after auth', () => {
  it('processes a join and a send sent right behind auth, without waiting for welcome, in order', async () => {
    const c = await TestClient.connect(ts.url);
    clients.push(c);
    c.send({ type: 'auth', id: 1, token: s.patientToken });
    c.send({ type: 'join', id: 2, conv: s.conv });
    c.send({ type: 'send', id: 3, conv: s.conv, clientMsgId: 'piped-1', text: 'straight away' });
    const ack = await c.waitFor((f) => f.type === 'ack');
    expect(ack).toMatchObject({ id: 3, seq: 1 });
    // An appointment's transcript: `joined` is followed by the appointment's status.
    expect(c.frames.map((f) => f.type).slice(0, 4)).toEqual(['welcome', 'joined', 'appointment', 'presence']);
    expect(c.isClosed).toBe(false);
  });
});
