import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '@therapy-chat/protocol';
import {
  ChatError,
  type CrisisResourcesEvent,
  type PresenceEvent,
  type RiskAlertEvent,
  type TypingEvent,
} from '../src/index.js';
import { Clients, record, startServer, waitUntil, type Session, type TestServer } from './helpers/sdk-harness.js';

let ts: TestServer;
let s: Session;
const clients = new Clients();

beforeEach(async () => {
  ts = await startServer();
  s = await ts.seed();
});

afterEach(async () => {
  await clients.closeAll();
  await ts.stop();
});

describe('a patient and a therapist talking through the SDK', () => {
  it('surfaces a risk hit: crisis resources to the patient app, an alert without text to the therapist console', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    await Promise.all([patient.connect(), therapist.connect()]);
    const pc = await patient.join(s.conv);
    const tc = await therapist.join(s.conv);
    const alerts: RiskAlertEvent[] = [];
    const resources: CrisisResourcesEvent[] = [];
    tc.on('riskAlert', (e) => alerts.push(e));
    pc.on('crisisResources', (e) => resources.push(e));
    const ack = await pc.send('Honestly I want to die');
    await waitUntil(() => alerts.length === 1 && resources.length === 1, 5000, 'alert and resources');
    expect(alerts[0]).toMatchObject({ seq: ack.seq, caseId: s.caseId, level: 'high', category: 'suicide' });
    expect(JSON.stringify({ ...alerts[0], conversation: undefined })).not.toMatch(/die/);
    expect(resources[0]).toMatchObject({ seq: ack.seq });
    expect(resources[0]!.contacts.length).toBeGreaterThan(0);
  });

  it('connects, joins, and delivers each message once to both sides with the ack seq', async () => {
    for (const codec of ['msgpack', 'json'] as const) {
      const patient = clients.create({ url: ts.url, getToken: () => s.patientToken, codec });
      const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
      await Promise.all([patient.connect(), therapist.connect()]);
      expect(patient.state).toBe('connected');
      expect(patient.session).toMatchObject({ user: s.patientId, role: 'patient' });
      expect(patient.states.map((e) => `${e.previous}->${e.current}`)).toEqual([
        'disconnected->connecting',
        'connecting->connected',
      ]);

      const pc = await patient.join(s.conv);
      const tc = await therapist.join(s.conv);
      const pSeen = record(pc);
      const tSeen = record(tc);
      const base = pc.lastSeq;

      const ack = await pc.send('I slept badly this week.');
      expect(ack).toMatchObject({ conv: s.conv, seq: base + 1 });
      const ack2 = await tc.send('Tell me more about the nights.');
      expect(ack2.seq).toBe(base + 2);
      await waitUntil(() => pSeen.length === 2 && tSeen.length === 2, 5000, 'both messages on both sides');
      for (const seen of [pSeen, tSeen]) {
        expect(seen.map((m: ChatMessage) => [m.seq, m.text])).toEqual([
          [base + 1, 'I slept badly this week.'],
          [base + 2, 'Tell me more about the nights.'],
        ]);
      }
      expect(tSeen[0]).toMatchObject({ from: s.patientId, role: 'patient', ts: ack.ts, clientMsgId: ack.clientMsgId });
      expect(pc.pending).toEqual([]);
      await clients.closeAll();
    }
  });

  it('marks own messages, pages history backwards, and resumes a late joiner from `since`', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    await patient.connect();
    const pc = await patient.join(s.conv);
    const own: boolean[] = [];
    pc.on('message', (e) => own.push(e.own));
    for (let i = 1; i <= 25; i++) await pc.send(`line ${i}`);
    await waitUntil(() => own.length === 25);
    expect(own.every(Boolean)).toBe(true);

    const newest = await pc.history({ limit: 10 });
    expect(newest.messages.map((m) => m.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(newest.hasMore).toBe(true);
    const older = await pc.history({ before: newest.messages[0]!.seq, limit: 10 });
    expect(older.messages.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i + 6}`));
    const oldest = await pc.history({ before: 6, limit: 10 });
    expect(oldest.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(oldest.hasMore).toBe(false);

    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const replays: boolean[] = [];
    therapist.on('message', (e) => replays.push(e.replayed));
    const tc = await therapist.join(s.conv, { since: 20 });
    await therapist.connect();
    const seen = record(tc);
    await waitUntil(() => replays.length === 5);
    expect(tc.lastSeq).toBe(25);
    expect(replays).toEqual([true, true, true, true, true]);
    await pc.send('live one');
    await waitUntil(() => seen.length >= 1 && replays.length === 6);
    expect(replays[5]).toBe(false);
    expect(tc.lastSeq).toBe(26);
  });

  it('relays typing to the other side and reports who is present', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    await Promise.all([patient.connect(), therapist.connect()]);
    const tc = await therapist.join(s.conv);
    const presence: PresenceEvent[] = [];
    tc.on('presence', (e) => presence.push(e));
    const typing: TypingEvent[] = [];
    therapist.on('typing', (e) => typing.push(e));
    const pc = await patient.join(s.conv);
    await waitUntil(() => tc.members.length === 2, 5000, 'both present');
    expect(tc.members.map((m) => m.role).sort()).toEqual(['patient', 'therapist']);
    expect(presence.at(-1)!.conversation).toBe(tc);

    pc.typing(true);
    pc.typing(true); // repeats within 3 s are not sent
    await waitUntil(() => typing.length === 1);
    expect(typing[0]).toMatchObject({ user: s.patientId, role: 'patient', active: true });
    pc.typing(false);
    await waitUntil(() => typing.length === 2);
    expect(typing[1]!.active).toBe(false);

    await patient.close();
    await waitUntil(() => tc.members.length === 1, 5000, 'patient gone');
    expect(tc.members[0]!.user).toBe(s.therapistId);
  });

  it('rejects a message the server would refuse before storing it, with the protocol code', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    await patient.connect();
    const pc = await patient.join(s.conv);
    const tooLong = 'x'.repeat(patient.session!.limits.maxTextLength + 1);
    const err = await pc.send(tooLong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChatError);
    expect(err).toMatchObject({ code: 'TEXT_TOO_LONG', category: 'request', retryable: false, conv: s.conv });
    await expect(pc.send('')).rejects.toMatchObject({ code: 'INVALID_FIELD' });
    expect(pc.pending).toEqual([]);
    const ok = await pc.send('still fine');
    expect(ok.seq).toBe(1);
  });
});
