/**
 * The appointment lifecycle over real WebSocket connections, on SQLite and on PostgreSQL: the patient waits, the
 * therapist admits, messages flow, the therapist ends, and the transcript is closed for good but still readable.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AppointmentFrame, ErrorFrame, JoinedFrame } from '@therapy-chat/protocol';
import { seedScheduled } from './helpers/appointments.js';
import { startServer, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';

const pgReady = (await postgres()).available;
const drops: (() => Promise<void>)[] = [];
const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.stop();
});
afterAll(async () => {
  for (const drop of drops.splice(0)) await drop();
});

async function client(ts: TestServer, token: string): Promise<TestClient> {
  const c = await TestClient.connect(ts.url);
  clients.push(c);
  await c.auth(token);
  return c;
}

const isAppointment = (status: string) => (f: { type: string }) =>
  f.type === 'appointment' && (f as AppointmentFrame).status === status;

async function auditRows(ts: TestServer, action: string) {
  await ts.server.audit.flush();
  return ts.server.store.kysely
    .selectFrom('audit_events')
    .select(['action', 'outcome', 'reason', 'resource_type', 'resource_id', 'actor_id'])
    .where('action', '=', action)
    .orderBy('seq')
    .execute();
}

async function api(ts: TestServer, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(ts.httpUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const STORES: [string, () => Promise<Record<string, string> | undefined>][] = [
  ['SQLite', async () => ({})],
  [
    'PostgreSQL',
    async () => {
      if (!pgReady) return undefined;
      const db = await freshPostgresDatabase();
      drops.push(db.drop);
      return { DATABASE_URL: db.url };
    },
  ],
];

describe.each(STORES)('the appointment lifecycle on %s', (name, env) => {
  const skip = name === 'PostgreSQL' && !pgReady;

  async function server(): Promise<TestServer> {
    const ts = await startServer({ ...(await env()), FRAMES_PER_SECOND: '1000', FRAME_BURST: '1000' });
    servers.push(ts);
    return ts;
  }

  it.skipIf(skip)('waiting room → admitted → live conversation → ended and closed, still readable', async () => {
    const ts = await server();
    const s = await seedScheduled(ts);
    const therapist = await client(ts, s.therapistToken);
    const joinedT = (await therapist.join(s.conv)) as JoinedFrame;
    expect(joinedT).toMatchObject({ type: 'joined', closed: false, appointmentStatus: 'scheduled' });
    await therapist.waitFor(isAppointment('scheduled'));

    // The patient arrives: the appointment moves to the waiting room, and the therapist is told.
    const patient = await client(ts, s.patientToken);
    const joinedP = (await patient.join(s.conv)) as JoinedFrame;
    expect(joinedP).toMatchObject({ type: 'joined', closed: false, appointmentStatus: 'waiting' });
    expect(await patient.waitFor<AppointmentFrame>(isAppointment('waiting'))).toMatchObject({
      conv: s.conv,
      appointmentId: s.appointmentId,
    });
    await therapist.waitFor(isAppointment('waiting'));

    // Nobody writes before the therapist admits.
    expect(await patient.sendText(s.conv, 'Hello, is anyone there?', 'early-1')).toMatchObject({
      type: 'error',
      code: 'WAITING_ROOM',
      clientMsgId: 'early-1',
    });
    expect(await therapist.sendText(s.conv, 'Welcome')).toMatchObject({ code: 'APPOINTMENT_NOT_LIVE' });
    // Only the case's therapist admits.
    expect(await patient.request({ type: 'admit', conv: s.conv })).toMatchObject({ code: 'FORBIDDEN' });
    const stranger = await client(ts, s.strangerToken);
    expect(await stranger.request({ type: 'admit', conv: s.conv })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await therapist.request({ type: 'end', conv: s.conv })).toMatchObject({ code: 'APPOINTMENT_NOT_LIVE' });

    const admitted = await therapist.request<AppointmentFrame>({ type: 'admit', conv: s.conv });
    expect(admitted).toMatchObject({ type: 'appointment', status: 'live', appointmentId: s.appointmentId });
    await patient.waitFor(isAppointment('live'));

    // The held message goes through now, and the conversation flows both ways.
    expect(await patient.sendText(s.conv, 'Hello, is anyone there?', 'early-1')).toMatchObject({ type: 'ack', seq: 1 });
    expect(await therapist.sendText(s.conv, 'Hello. I am here.')).toMatchObject({ type: 'ack', seq: 2 });
    expect((await therapist.waitForSeq(s.conv, 1)).text).toBe('Hello, is anyone there?');
    expect((await patient.waitForSeq(s.conv, 2)).text).toBe('Hello. I am here.');

    const ended = await therapist.request<AppointmentFrame>({ type: 'end', conv: s.conv });
    expect(ended).toMatchObject({ type: 'appointment', status: 'ended' });
    await patient.waitFor(isAppointment('ended'));
    expect(await patient.sendText(s.conv, 'One more thing')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
    expect(await therapist.sendText(s.conv, 'Also')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
    expect(await therapist.request({ type: 'admit', conv: s.conv })).toMatchObject({ code: 'APPOINTMENT_NOT_LIVE' });
    // Ending twice changes nothing and says so.
    expect(await therapist.request({ type: 'end', conv: s.conv })).toMatchObject({ status: 'ended' });

    // Closed, but readable: a fresh join says closed and replays the transcript.
    const later = await client(ts, s.patientToken);
    expect(await later.join(s.conv, 0)).toMatchObject({ closed: true, appointmentStatus: 'ended', lastSeq: 2 });
    await later.waitForSeq(s.conv, 2);
    expect(later.messages(s.conv).map((m) => m.text)).toEqual(['Hello, is anyone there?', 'Hello. I am here.']);

    // The therapist writes the session's note once; the patient reads it; another therapist may not.
    const note = 'Fictional session summary: discussed sleep routine; plan to keep a diary.';
    const written = await api(ts, 'POST', `/v1/appointments/${s.appointmentId}/note`, s.therapistToken, { text: note });
    expect(written).toMatchObject({ status: 201, body: { appointmentId: s.appointmentId, caseId: s.caseId } });
    expect(
      await api(ts, 'POST', `/v1/appointments/${s.appointmentId}/note`, s.therapistToken, { text: 'a rewrite' }),
    ).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    const read = await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, s.patientToken);
    expect(read.status).toBe(200);
    expect((read.body as { notes: unknown[] }).notes).toEqual([
      expect.objectContaining({
        kind: 'therapist',
        appointmentId: s.appointmentId,
        authorRole: 'therapist',
        text: note,
      }),
    ]);
    expect(await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, s.strangerToken)).toMatchObject({
      status: 403,
      body: { error: 'FORBIDDEN' },
    });
    expect(await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, s.supervisorToken)).toMatchObject({ status: 403 });

    const changes = await auditRows(ts, 'appointment.change');
    expect(changes.map((c) => [c.reason, c.actor_id, c.resource_id])).toEqual([
      ['waiting', s.patientId, s.appointmentId],
      ['live', s.therapistId, s.appointmentId],
      ['ended', s.therapistId, s.appointmentId],
    ]);
  });

  it.skipIf(skip)('two consoles admitting at once make one change; both hear live', async () => {
    const ts = await server();
    const s = await seedScheduled(ts);
    const patient = await client(ts, s.patientToken);
    await patient.join(s.conv);
    const consoles = await Promise.all([client(ts, s.therapistToken), client(ts, s.therapistToken)]);
    const answers = await Promise.all(consoles.map((c) => c.request({ type: 'admit', conv: s.conv })));
    for (const a of answers) expect(a).toMatchObject({ type: 'appointment', status: 'live' });
    await patient.waitFor(isAppointment('live'));
    await new Promise((r) => setTimeout(r, 100));
    expect(patient.frames.filter(isAppointment('live'))).toHaveLength(1);
    expect((await auditRows(ts, 'appointment.change')).map((c) => c.reason)).toEqual(['waiting', 'live']);
  });

  it.skipIf(skip)('refuses admit and end for a thread and for an unknown conversation', async () => {
    const ts = await server();
    const s = await seedScheduled(ts);
    const therapist = await client(ts, s.therapistToken);
    expect(await therapist.request({ type: 'admit', conv: s.threadId })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await therapist.request({ type: 'end', conv: 'cv_nothing-here' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await therapist.request({ type: 'end', conv: 'not a conv' })).toMatchObject({ code: 'INVALID_FIELD' });
    expect(await therapist.request({ type: 'admit' })).toMatchObject({ code: 'INVALID_FIELD' });
  });

  it.skipIf(skip)('an end racing sends: every message is acked and in the transcript, or refused CLOSED', async () => {
    const ts = await server();
    const s = await seedScheduled(ts);
    const patient = await client(ts, s.patientToken);
    const therapist = await client(ts, s.therapistToken);
    await patient.join(s.conv);
    await therapist.join(s.conv);
    await therapist.request({ type: 'admit', conv: s.conv });
    await patient.waitFor(isAppointment('live'));

    const N = 150;
    const sends: Promise<{ type: string; code?: string; seq?: number; clientMsgId?: string }>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(patient.sendText(s.conv, `patient line ${i}`, `p-${i}`));
      sends.push(therapist.sendText(s.conv, `therapist line ${i}`, `t-${i}`));
      if (i === N / 3) sends.push(therapist.request({ type: 'end', conv: s.conv }) as never);
    }
    const answers = await Promise.all(sends);
    const acks = answers.filter((a) => a.type === 'ack');
    const refused = answers.filter((a) => a.type === 'error');
    expect(answers.filter((a) => a.type === 'appointment')).toHaveLength(1);
    for (const r of refused) expect((r as ErrorFrame).code).toBe('CONVERSATION_CLOSED');
    expect(acks.length + refused.length).toBe(2 * N);
    expect(refused.length).toBeGreaterThan(0);

    // The transcript holds exactly the acknowledged messages, gap-free.
    const stored = await ts.server.store.messagesAfter(s.conv, 0, 10_000);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: acks.length }, (_, i) => i + 1));
    expect(new Set(stored.map((m) => m.clientMsgId))).toEqual(new Set(acks.map((a) => a.clientMsgId)));
    const acked = new Map(acks.map((a) => [a.clientMsgId, a.seq]));
    for (const m of stored) expect(acked.get(m.clientMsgId)).toBe(m.seq);
    // Nothing was appended after the end: resends of refused messages stay refused.
    const retry = refused[0] as ErrorFrame;
    const sender = retry.clientMsgId!.startsWith('p-') ? patient : therapist;
    expect(await sender.sendText(s.conv, 'late', retry.clientMsgId)).toMatchObject({ code: 'CONVERSATION_CLOSED' });
  });
});
