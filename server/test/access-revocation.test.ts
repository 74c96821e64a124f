/**
 * Access is decided on every frame, and a permission that ends ends live subscriptions within a second (DESIGN §2):
 * the 6-week window after discharge passing on a fake clock, reassignment, restriction, discharge, re-referral, and
 * across two nodes sharing PostgreSQL and Redis. Real servers, real sockets, real stores.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ErrorFrame, JoinedFrame, PresenceFrame } from '@therapy-chat/protocol';
import { SqlAuditSink } from '../src/audit/sql-audit-sink.js';
import { createUser, openCase } from '../src/domain/care-setup.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { TherapyChatServer } from '../src/server.js';
import { LogCapture, mintToken, seedSession, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres, redis, REDIS_URL } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';

const SECOND = 1000;
const SIX_WEEKS = 42 * 24 * 3600 * SECOND;

const servers: { stop(): Promise<void> }[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  for (const s of servers.splice(0)) await s.stop();
});

async function client(url: string, token: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  clients.push(c);
  expect((await c.auth(token)).type).toBe('welcome');
  return c;
}

async function server(now?: () => number): Promise<TestServer> {
  const ts = await startServer({}, now ? { now } : {});
  servers.push(ts);
  return ts;
}

const revoked = (c: TestClient, conv: string, timeoutMs = 1000) =>
  c.waitFor<ErrorFrame>(
    (f) => f.type === 'error' && f.code === 'ACCESS_REVOKED' && f.conv === conv && !('id' in f),
    timeoutMs,
  );

const hasRevocation = (c: TestClient) => c.errors().some((e) => e.code === 'ACCESS_REVOKED');

/** Sets columns of a case as another engineer's admin route would, straight in the store. */
async function updateCase(ts: TestServer, caseId: string, patch: Record<string, string | number | null>) {
  await ts.server.store.kysely.updateTable('cases').set(patch).where('id', '=', caseId).execute();
}

/** Real time until `promise` settles, in ms. */
async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await promise;
  return [value, Date.now() - started];
}

async function auditEvents(ts: TestServer) {
  await ts.server.audit.flush();
  const sink = SqlAuditSink.sqlite({ dataDir: ts.dataDir, readonly: true });
  try {
    return await sink.read(1, 1000);
  } finally {
    await sink.close();
  }
}

describe('the 6-week window after discharge, on a fake clock', () => {
  it('keeps a therapist joined at discharge + 6 weeks − 1 s, ends it within 1 s of + 6 weeks, refuses a new join', async () => {
    const dischargedAt = Date.UTC(2026, 9, 1, 10, 0, 0);
    let now = dischargedAt + 3600 * SECOND;
    const ts = await server(() => now);
    const s = await ts.seed();
    const patient = await client(ts.url, s.patientToken);
    await patient.join(s.threadId);
    expect((await patient.sendText(s.threadId, 'a message before discharge')).type).toBe('ack');
    await updateCase(ts, s.caseId, { status: 'discharged', discharged_at: dischargedAt });
    ts.server.chat.accessChanged(s.caseId);
    await ts.server.chat.accessWatch.settled();

    now = dischargedAt + SIX_WEEKS - 10 * SECOND;
    const token = await mintToken(ts.dataDir, s.therapistId, 'therapist', { ttlSeconds: 10 * SIX_WEEKS });
    const therapist = await client(ts.url, token);
    const joined = (await therapist.join(s.threadId, 0)) as JoinedFrame;
    expect(joined).toMatchObject({ type: 'joined', closed: true });
    await therapist.waitForSeq(s.threadId, 1);

    now = dischargedAt + SIX_WEEKS - SECOND;
    await new Promise((r) => setTimeout(r, 700)); // more than one sweep
    expect(hasRevocation(therapist)).toBe(false);
    expect(await therapist.request({ type: 'history', conv: s.threadId })).toMatchObject({ type: 'history' });

    now = dischargedAt + SIX_WEEKS + SECOND;
    const [frame, ms] = await timed(revoked(therapist, s.threadId));
    expect(frame.code).toBe('ACCESS_REVOKED');
    expect(ms).toBeLessThan(1000);
    expect(await therapist.join(s.threadId)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(await therapist.request({ type: 'history', conv: s.threadId })).toMatchObject({ code: 'NOT_JOINED' });
    // The patient reads on, years later too.
    expect(hasRevocation(patient)).toBe(false);
    now = dischargedAt + 10 * 365 * 24 * 3600 * SECOND;
    expect(await patient.request({ type: 'history', conv: s.threadId })).toMatchObject({ type: 'history' });
    const events = await auditEvents(ts);
    expect(events.map((e) => [e.action, e.outcome, e.reason, e.resource?.id])).toEqual(
      expect.arrayContaining([['access.revoked', 'refused', 'therapist-window-ended', s.threadId]]),
    );
  });

  it('ends access at the frame itself when a send comes before the sweep', async () => {
    const dischargedAt = Date.UTC(2026, 9, 1, 10, 0, 0);
    let now = dischargedAt + SIX_WEEKS - SECOND;
    const ts = await server(() => now);
    const s = await ts.seed();
    await updateCase(ts, s.caseId, { status: 'discharged', discharged_at: dischargedAt });
    const token = await mintToken(ts.dataDir, s.therapistId, 'therapist', { ttlSeconds: 10 * SIX_WEEKS });
    const therapist = await client(ts.url, token);
    expect(await therapist.join(s.conv)).toMatchObject({ type: 'joined', closed: true });
    now = dischargedAt + SIX_WEEKS;
    // Within the same tick as the clock moved: no sweep has run yet.
    expect(await therapist.request({ type: 'history', conv: s.conv })).toMatchObject({ code: 'ACCESS_REVOKED' });
    await revoked(therapist, s.conv, 100);
  });
});

describe('changes of the facts, announced with accessChanged', () => {
  it('reassignment mid-session revokes the old therapist within 1 s; the patient goes on; the new therapist joins', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await client(ts.url, s.patientToken);
    const oldTherapist = await client(ts.url, s.therapistToken);
    await patient.join(s.conv);
    await oldTherapist.join(s.conv);
    expect((await patient.sendText(s.conv, 'hello')).type).toBe('ack');
    await oldTherapist.waitForSeq(s.conv, 1);

    const newTherapistId = await createUser(ts.server.store, 'therapist');
    await updateCase(ts, s.caseId, { therapist_id: newTherapistId });
    const presenceFrom = patient.frames.length;
    ts.server.chat.accessChanged(s.caseId);
    const [, ms] = await timed(revoked(oldTherapist, s.conv));
    expect(ms).toBeLessThan(1000);
    // The patient sees the old therapist leave, and keeps chatting.
    const presence = await patient.waitFor<PresenceFrame>(
      (f) => f.type === 'presence' && f.members.every((m) => m.user !== s.therapistId),
      1000,
      presenceFrom,
    );
    expect(presence.members.map((m) => m.user)).toEqual([s.patientId]);
    expect(hasRevocation(patient)).toBe(false);
    expect((await patient.sendText(s.conv, 'are you there?')).type).toBe('ack');
    await patient.waitForSeq(s.conv, 2);
    // Nothing more reaches the old therapist, who can neither send nor join again.
    expect(await oldTherapist.sendText(s.conv, 'still here')).toMatchObject({ code: 'NOT_JOINED' });
    expect(await oldTherapist.join(s.conv)).toMatchObject({ code: 'FORBIDDEN' });
    expect(oldTherapist.messages(s.conv).map((m) => m.seq)).toEqual([1]);

    const newTherapist = await client(ts.url, await mintToken(ts.dataDir, newTherapistId, 'therapist'));
    expect(await newTherapist.join(s.conv, 0)).toMatchObject({ type: 'joined', closed: false });
    await newTherapist.waitForSeq(s.conv, 2);
    expect((await newTherapist.sendText(s.conv, 'I am taking over your care')).type).toBe('ack');
    await patient.waitForSeq(s.conv, 3);
    const events = await auditEvents(ts);
    const revocation = events.find((e) => e.action === 'access.revoked');
    expect(revocation).toMatchObject({
      actor: { userId: s.therapistId, role: 'therapist' },
      reason: 'not-assigned',
      resource: { type: 'conversation', id: s.conv },
    });
  });

  it('restriction revokes the therapist; the patient keeps reading but the record takes no new messages', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await client(ts.url, s.patientToken);
    const therapist = await client(ts.url, s.therapistToken);
    await patient.join(s.conv);
    await therapist.join(s.conv);
    expect((await patient.sendText(s.conv, 'before the request')).type).toBe('ack');
    await updateCase(ts, s.caseId, { restricted_at: Date.now() });
    ts.server.chat.accessChanged(s.caseId);
    const [, ms] = await timed(revoked(therapist, s.conv));
    expect(ms).toBeLessThan(1000);
    await ts.server.chat.accessWatch.settled();
    expect(hasRevocation(patient)).toBe(false);
    expect(await patient.request({ type: 'history', conv: s.conv })).toMatchObject({ type: 'history' });
    expect(await patient.sendText(s.conv, 'after the request')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
    expect(await therapist.join(s.conv)).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('discharge keeps reads and subscriptions but refuses sends with CONVERSATION_CLOSED at once', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await client(ts.url, s.patientToken);
    const therapist = await client(ts.url, s.therapistToken);
    expect(await patient.join(s.threadId)).toMatchObject({ closed: false });
    await therapist.join(s.threadId);
    expect((await therapist.sendText(s.threadId, 'see you next week')).type).toBe('ack');
    await updateCase(ts, s.caseId, { status: 'discharged', discharged_at: Date.now() });
    ts.server.chat.accessChanged(s.caseId);
    await ts.server.chat.accessWatch.settled();
    expect(await therapist.sendText(s.threadId, 'one more thing')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
    expect(await patient.sendText(s.threadId, 'thank you')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
    // Typing is dropped quietly; history is still there for both.
    therapist.send({ type: 'typing', conv: s.threadId, active: true });
    expect(await therapist.request({ type: 'history', conv: s.threadId })).toMatchObject({
      type: 'history',
      messages: [expect.objectContaining({ seq: 1 })],
    });
    expect(await patient.request({ type: 'history', conv: s.threadId })).toMatchObject({ type: 'history' });
    expect(patient.frames.some((f) => f.type === 'typing')).toBe(false);
    expect(hasRevocation(patient) || hasRevocation(therapist)).toBe(false);
    // A new join says the conversation is closed.
    const again = await client(ts.url, s.patientToken);
    expect(await again.join(s.threadId)).toMatchObject({ type: 'joined', closed: true });
  });

  it('lets the therapist of a re-referral join the earlier case read-only, and the old therapist not at all', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await client(ts.url, s.patientToken);
    await patient.join(s.threadId);
    expect((await patient.sendText(s.threadId, 'from the first episode')).type).toBe('ack');
    await updateCase(ts, s.caseId, { status: 'discharged', discharged_at: Date.now() - SIX_WEEKS - SECOND });
    ts.server.chat.accessChanged(s.caseId);
    await ts.server.chat.accessWatch.settled();

    const successorId = await createUser(ts.server.store, 'therapist');
    const later = await openCase(ts.server.store, ts.server.keys, {
      patientId: s.patientId,
      therapistId: successorId,
      previousCaseId: s.caseId,
    });
    const successor = await client(ts.url, await mintToken(ts.dataDir, successorId, 'therapist'));
    expect(await successor.join(s.threadId, 0)).toMatchObject({ type: 'joined', closed: true });
    await successor.waitForSeq(s.threadId, 1);
    expect(await successor.sendText(s.threadId, 'hello')).toMatchObject({ code: 'FORBIDDEN' });
    expect(await successor.join(later.threadId)).toMatchObject({ type: 'joined', closed: false });
    const old = await client(ts.url, s.therapistToken);
    expect(await old.join(s.threadId)).toMatchObject({ code: 'FORBIDDEN' });

    // The later case is reassigned: its former therapist loses the earlier case too.
    const nextId = await createUser(ts.server.store, 'therapist');
    await updateCase(ts, later.caseId, { therapist_id: nextId });
    ts.server.chat.accessChanged(later.caseId);
    await revoked(successor, s.threadId);
    await revoked(successor, later.threadId);
  });
});

const clusterReady = (await postgres()).available && (await redis()).available;
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

describe.skipIf(!clusterReady)('across two nodes sharing PostgreSQL and Redis', () => {
  it('an accessChanged on node A revokes a subscription on node B within 1 s', async () => {
    const db = await freshPostgresDatabase();
    drops.push(db.drop);
    const dataDir = tempDataDir();
    const nodes: TherapyChatServer[] = [];
    for (let i = 0; i < 2; i++) {
      const config = loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        DATABASE_URL: db.url,
        REDIS_URL,
        LOG_LEVEL: 'warn',
      });
      const node = await TherapyChatServer.create(config, { logger: createLogger('warn', new LogCapture()) });
      servers.push(node);
      nodes.push(node);
      await node.listen();
      await node.chat.accessWatch.ready();
    }
    const [a, b] = nodes as [TherapyChatServer, TherapyChatServer];
    const url = (n: TherapyChatServer) => `ws://127.0.0.1:${n.port}/ws`;
    const s = await seedSession(dataDir, a.store, a.keys);
    const therapist = await client(url(b), s.therapistToken);
    const patient = await client(url(a), s.patientToken);
    await therapist.join(s.conv);
    await patient.join(s.conv);
    expect((await patient.sendText(s.conv, 'across nodes')).type).toBe('ack');
    await therapist.waitForSeq(s.conv, 1);

    const newTherapistId = await createUser(a.store, 'therapist');
    await a.store.kysely
      .updateTable('cases')
      .set({ therapist_id: newTherapistId })
      .where('id', '=', s.caseId)
      .execute();
    a.chat.accessChanged(s.caseId);
    const [, ms] = await timed(revoked(therapist, s.conv));
    expect(ms).toBeLessThan(1000);
    expect(hasRevocation(patient)).toBe(false);
    expect((await patient.sendText(s.conv, 'still here')).type).toBe('ack');
    expect(await therapist.join(s.conv)).toMatchObject({ code: 'FORBIDDEN' });
  });
});
