/**
 * Therapist notes and the caller's case list over the HTTP API, on SQLite and on PostgreSQL: one sealed note per
 * ended appointment, read by those the policy allows (the patient at any time, the therapist within 6 weeks of
 * discharge), every decision audited; and each user's case list shows their cases and nobody else's.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createUser, openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { THERAPIST_READ_AFTER_DISCHARGE_MS } from '../src/policy/access-policy.js';
import { seedScheduled } from './helpers/appointments.js';
import { mintToken, startServer, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres } from './helpers/services.js';

const pgReady = (await postgres()).available;
const drops: (() => Promise<void>)[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});
afterAll(async () => {
  for (const drop of drops.splice(0)) await drop();
});

const LONG_TTL = 200 * 24 * 3600;
const NOTE = 'Fictional note: reviewed the week; agreed two small goals.';

async function api(ts: TestServer, method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(ts.httpUrl + path, {
    method,
    headers: {
      ...(token !== null && { authorization: `Bearer ${token}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: string } };
}

describe.each([
  ['SQLite', false],
  ['PostgreSQL', !pgReady],
] as const)('notes and case lists on %s', (name, skip) => {
  let clock = Date.now();

  async function server(): Promise<TestServer> {
    let env: Record<string, string> = {};
    if (name === 'PostgreSQL') {
      const db = await freshPostgresDatabase();
      drops.push(db.drop);
      env = { DATABASE_URL: db.url };
    }
    clock = Date.now();
    const ts = await startServer(env, { now: () => clock });
    servers.push(ts);
    return ts;
  }

  async function endedAppointment(ts: TestServer) {
    const s = await seedScheduled(ts);
    const ended = await scheduleAppointment(ts.server.store, s.caseId, { status: 'ended' });
    return { ...s, endedId: ended.appointmentId };
  }

  it.skipIf(skip)('a note is written once, by the therapist, after the end; sealed; refusals are clear', async () => {
    const ts = await server();
    const s = await endedAppointment(ts);
    const path = `/v1/appointments/${s.endedId}/note`;
    expect(await api(ts, 'POST', path, null, { text: NOTE })).toMatchObject({ status: 401 });
    expect(await api(ts, 'POST', path, s.patientToken, { text: NOTE })).toMatchObject({
      status: 403,
      body: { error: 'FORBIDDEN' },
    });
    expect(await api(ts, 'POST', path, s.strangerToken, { text: NOTE })).toMatchObject({ status: 403 });
    expect(await api(ts, 'POST', path, s.therapistToken, { text: '' })).toMatchObject({
      status: 400,
      body: { error: 'VALIDATION_FAILED' },
    });
    expect(await api(ts, 'POST', path, s.therapistToken, { text: { words: 'x' } })).toMatchObject({ status: 400 });
    expect(await api(ts, 'POST', `/v1/appointments/ap_nothing/note`, s.therapistToken, { text: NOTE })).toMatchObject({
      status: 404,
      body: { error: 'NOT_FOUND' },
    });
    // Not ended yet: the scheduled appointment takes no note.
    expect(
      await api(ts, 'POST', `/v1/appointments/${s.appointmentId}/note`, s.therapistToken, { text: NOTE }),
    ).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });

    const first = await api(ts, 'POST', path, s.therapistToken, { text: NOTE });
    expect(first).toMatchObject({ status: 201, body: { appointmentId: s.endedId, caseId: s.caseId } });
    // Two more at once: both refused, the first stays as written.
    const again = await Promise.all([
      api(ts, 'POST', path, s.therapistToken, { text: 'rewrite 1' }),
      api(ts, 'POST', path, s.therapistToken, { text: 'rewrite 2' }),
    ]);
    for (const a of again) expect(a).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });

    // At rest the text is ciphertext, bound to its note: moved to another note id it does not open.
    const row = await ts.server.store.kysely.selectFrom('notes').selectAll().executeTakeFirstOrThrow();
    expect(Buffer.from(row.text_ct).toString('latin1')).not.toContain('Fictional');
    expect(ts.server.keys.openField(row.key_id, 'note.text', row.id, row.text_ct)).toBe(NOTE);
    expect(() => ts.server.keys.openField(row.key_id, 'note.text', 'nt_other', row.text_ct)).toThrow();

    const notes = await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, s.therapistToken);
    expect(notes).toMatchObject({ status: 200, body: { notes: [{ text: NOTE, noteId: first.body.noteId }] } });
    expect(await api(ts, 'GET', `/v1/cases/C-NONE-NONE/notes`, s.patientToken)).toMatchObject({ status: 404 });

    await ts.server.audit.flush();
    const audit = await ts.server.store.kysely
      .selectFrom('audit_events')
      .select(['action', 'outcome', 'reason', 'actor_id'])
      .where('action', 'in', ['note.write', 'note.read', 'access.refused'])
      .orderBy('seq')
      .execute();
    expect(audit).toEqual(
      expect.arrayContaining([
        { action: 'access.refused', outcome: 'refused', reason: 'role-not-permitted', actor_id: s.patientId },
        { action: 'note.write', outcome: 'refused', reason: 'appointment-scheduled', actor_id: s.therapistId },
        { action: 'note.write', outcome: 'granted', reason: 'therapist-of-case', actor_id: s.therapistId },
        { action: 'note.write', outcome: 'refused', reason: 'note-exists', actor_id: s.therapistId },
        { action: 'note.read', outcome: 'granted', reason: 'therapist-of-case', actor_id: s.therapistId },
      ]),
    );
    expect(JSON.stringify(audit)).not.toContain('Fictional');
  });

  it.skipIf(skip)('the patient reads notes for good; the therapist until 6 weeks after discharge', async () => {
    const ts = await server();
    const s = await endedAppointment(ts);
    const therapistToken = await mintToken(ts.dataDir, s.therapistId, 'therapist', { ttlSeconds: LONG_TTL });
    const patientToken = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: LONG_TTL });
    await api(ts, 'POST', `/v1/appointments/${s.endedId}/note`, therapistToken, { text: NOTE });
    const discharged = clock;
    await ts.server.store.kysely
      .updateTable('cases')
      .set({ status: 'discharged', discharged_at: discharged })
      .where('id', '=', s.caseId)
      .execute();
    // A discharged case takes no new note.
    const other = await scheduleAppointment(ts.server.store, s.caseId, { status: 'ended' });
    expect(
      await api(ts, 'POST', `/v1/appointments/${other.appointmentId}/note`, therapistToken, { text: NOTE }),
    ).toMatchObject({ status: 403 });

    clock = discharged + THERAPIST_READ_AFTER_DISCHARGE_MS - 1000;
    expect((await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, therapistToken)).status).toBe(200);
    expect((await api(ts, 'GET', '/v1/me/cases', therapistToken)).body.cases).toHaveLength(1);
    clock = discharged + THERAPIST_READ_AFTER_DISCHARGE_MS + 1000;
    expect(await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, therapistToken)).toMatchObject({ status: 403 });
    expect((await api(ts, 'GET', '/v1/me/cases', therapistToken)).body.cases).toEqual([]);
    expect(await api(ts, 'GET', `/v1/cases/${s.caseId}/notes`, patientToken)).toMatchObject({
      status: 200,
      body: { notes: [{ text: NOTE }] },
    });
  });

  it.skipIf(skip)("each user's case list holds their cases and nothing of anyone else's", async () => {
    const ts = await server();
    const s = await seedScheduled(ts);
    const { store, keys } = ts.server;
    // Another patient of the same therapist, and a re-referral of the first patient to a new therapist.
    const otherPatient = await createUser(store, 'patient');
    const other = await openCase(store, keys, { patientId: otherPatient, therapistId: s.therapistId });
    await store.kysely
      .updateTable('cases')
      .set({ status: 'discharged', discharged_at: clock - 1000 })
      .where('id', '=', s.caseId)
      .execute();
    const newTherapist = await createUser(store, 'therapist');
    const later = await openCase(store, keys, {
      patientId: s.patientId,
      therapistId: newTherapist,
      previousCaseId: s.caseId,
    });

    const mine = await api(ts, 'GET', '/v1/me/cases', s.patientToken);
    expect(mine.status).toBe(200);
    const cases = mine.body.cases as { caseId: string; relation: string; threadId: string; appointments: object[] }[];
    expect(cases.map((c) => [c.caseId, c.relation]).sort()).toEqual(
      [
        [s.caseId, 'own'],
        [later.caseId, 'own'],
      ].sort(),
    );
    const first = cases.find((c) => c.caseId === s.caseId)!;
    expect(first).toMatchObject({ status: 'discharged', threadId: s.threadId });
    expect(first.appointments).toEqual([
      { appointmentId: s.appointmentId, conversationId: s.conv, status: 'scheduled', scheduledAt: expect.any(String) },
    ]);
    // Only references, statuses, ids and times.
    expect(Object.keys(first).sort()).toEqual(
      ['appointments', 'caseId', 'dischargedAt', 'relation', 'status', 'threadId'].sort(),
    );
    expect(JSON.stringify(mine.body)).not.toContain(s.therapistId);
    expect(JSON.stringify(mine.body)).not.toContain(other.caseId);

    const theirs = await api(ts, 'GET', '/v1/me/cases', s.therapistToken);
    expect(
      (theirs.body.cases as { caseId: string; relation: string }[]).map((c) => [c.caseId, c.relation]).sort(),
    ).toEqual(
      [
        [s.caseId, 'assigned'],
        [other.caseId, 'assigned'],
      ].sort(),
    );
    const newOne = await api(ts, 'GET', '/v1/me/cases', await mintToken(ts.dataDir, newTherapist, 'therapist'));
    expect(
      (newOne.body.cases as { caseId: string; relation: string }[]).map((c) => [c.caseId, c.relation]).sort(),
    ).toEqual(
      [
        [s.caseId, 'earlier-case'],
        [later.caseId, 'assigned'],
      ].sort(),
    );
    expect(await api(ts, 'GET', '/v1/me/cases', s.supervisorToken)).toMatchObject({ status: 403 });
    expect(await api(ts, 'GET', '/v1/me/cases', s.strangerToken)).toMatchObject({ status: 200, body: { cases: [] } });
  });
});
