/**
 * Break-glass: an admin reads a case's records only with a written reason, for a limited time, audited — against a
 * real server (SQLite, and PostgreSQL when reachable) on a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { aad, seal } from '../src/crypto/aead.js';
import { FileKeyProvider } from '../src/crypto/file-key-provider.js';
import { newId } from '../src/ids.js';
import { birthDate, startAdminFixture, type AdminFixture, type StoreKind } from './helpers/admin-fixture.js';
import { postgres } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';

const pgService = await postgres();
const KINDS: StoreKind[] = pgService.available ? ['sqlite', 'postgres'] : ['sqlite'];

let fx: AdminFixture | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await fx?.stop();
  fx = undefined;
});

const REASON = 'Complaint investigation 2026-114: the patient asked the service to review session conduct';

/** A case with a thread message, a live appointment's transcript and a therapist note. */
async function caseWithRecords(f: AdminFixture) {
  const patientId = await f.person('patient', birthDate(f.now, 35));
  const therapistId = await f.person('therapist');
  const supervisorId = await f.person('supervisor');
  const opened = await f.api('POST', '/v1/admin/cases', f.adminToken, { patientId, therapistId, supervisorId });
  const caseId = opened.body.caseId as string;
  const threadId = opened.body.threadId as string;
  const ap = await f.api('POST', '/v1/admin/appointments', f.adminToken, {
    caseId,
    scheduledAt: new Date(f.now).toISOString(),
  });
  await f.ts.server.store.setAppointmentStatus(ap.body.appointmentId, 'live', f.now);
  const patient = await TestClient.connect(f.ts.url);
  const therapist = await TestClient.connect(f.ts.url);
  clients.push(patient, therapist);
  await patient.auth(await f.token(patientId, 'patient'));
  await therapist.auth(await f.token(therapistId, 'therapist'));
  await patient.join(threadId);
  await patient.join(ap.body.conversationId);
  await therapist.join(ap.body.conversationId);
  expect((await patient.sendText(threadId, 'thread words of the patient')).type).toBe('ack');
  expect((await patient.sendText(ap.body.conversationId, 'session words of the patient')).type).toBe('ack');
  expect((await therapist.sendText(ap.body.conversationId, 'session words of the therapist')).type).toBe('ack');
  // A therapist note, sealed with the case's data key and bound to its id, as the notes API writes it.
  const db = f.ts.server.store.kysely;
  const key = await db.selectFrom('data_keys').selectAll().where('case_id', '=', caseId).executeTakeFirstOrThrow();
  const dek = await FileKeyProvider.openOrCreate(f.ts.dataDir).unwrap(key.id, {
    kekId: key.kek_id,
    wrapped: Buffer.from(key.wrapped),
  });
  const noteId = newId('nt');
  await db
    .insertInto('notes')
    .values({
      id: noteId,
      case_id: caseId,
      kind: 'therapist',
      appointment_id: ap.body.appointmentId,
      conversation_id: null,
      seq: null,
      target_note_id: null,
      author_id: therapistId,
      author_role: 'therapist',
      key_id: key.id,
      text_ct: seal(dek, Buffer.from('the clinical note text', 'utf8'), aad('note.text', noteId)),
      created_at: f.now,
    })
    .execute();
  return {
    caseId,
    threadId,
    appointmentId: ap.body.appointmentId as string,
    conv: ap.body.conversationId as string,
    noteId,
  };
}

describe.each(KINDS)('break-glass on %s', (kind) => {
  it('refuses a grant without a written reason, with too short a reason, or too long a time', async () => {
    fx = await startAdminFixture(kind, { BREAK_GLASS_MAX_MINUTES: '60' });
    const f = fx;
    const c = await caseWithRecords(f);
    const grant = (body: Record<string, unknown>) => f.api('POST', '/v1/admin/break-glass', f.adminToken, body);
    for (const body of [
      { caseId: c.caseId, minutes: 10 },
      { caseId: c.caseId, minutes: 10, reason: '' },
      { caseId: c.caseId, minutes: 10, reason: 'complaint' },
      { caseId: c.caseId, minutes: 10, reason: `   complaint${' '.repeat(20)}` },
      { caseId: c.caseId, minutes: 10, reason: 'x'.repeat(2001) },
      { caseId: c.caseId, minutes: 10, reason: `${REASON}\u0000` },
      { caseId: c.caseId, minutes: 0, reason: REASON },
      { caseId: c.caseId, minutes: 61, reason: REASON },
      { caseId: c.caseId, reason: REASON },
    ]) {
      const res = await grant(body);
      expect([res.status, res.body.error]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await grant({ caseId: 'C-0000-0000', minutes: 10, reason: REASON })).status).toBe(404);
    expect(await f.ts.server.store.kysely.selectFrom('break_glass_grants').selectAll().execute()).toEqual([]);
    const ok = await grant({ caseId: c.caseId, minutes: 60, reason: REASON });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body).toEqual({
      grantId: expect.stringMatching(/^bg_/) as string,
      caseId: c.caseId,
      grantedAt: new Date(f.now).toISOString(),
      expiresAt: new Date(f.now + 60 * 60_000).toISOString(),
      revokedAt: null,
    });
  });

  it('opens the whole record while the grant is current, and refuses it after expiry; every access audited', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await caseWithRecords(f);
    const start = f.now;
    const g = await f.api('POST', '/v1/admin/break-glass', f.adminToken, {
      caseId: c.caseId,
      minutes: 30,
      reason: REASON,
    });
    expect(g.status).toBe(201);
    const grantId = g.body.grantId as string;
    const records = `/v1/admin/break-glass/${grantId}/records`;

    const read = await f.api('GET', records, f.adminToken);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ grantId, caseId: c.caseId, status: 'active' });
    expect(read.body.thread).toEqual({
      conversationId: c.threadId,
      messages: [expect.objectContaining({ seq: 1, senderRole: 'patient', text: 'thread words of the patient' })],
    });
    expect(read.body.appointments).toEqual([
      expect.objectContaining({
        appointmentId: c.appointmentId,
        conversationId: c.conv,
        status: 'live',
        messages: [
          expect.objectContaining({ seq: 1, senderRole: 'patient', text: 'session words of the patient' }),
          expect.objectContaining({ seq: 2, senderRole: 'therapist', text: 'session words of the therapist' }),
        ],
      }),
    ]);
    expect(read.body.notes).toEqual([
      expect.objectContaining({ noteId: c.noteId, kind: 'therapist', text: 'the clinical note text' }),
    ]);

    // One millisecond before expiry it still opens; at expiry it does not.
    f.now = start + 30 * 60_000 - 1;
    expect((await f.api('GET', records, f.adminToken)).status).toBe(200);
    f.now = start + 30 * 60_000;
    const expired = await f.api('GET', records, f.adminToken);
    expect(expired).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    expect(expired.body.message).toMatch(/expired/);
    expect(expired.text).not.toContain('words of the');
    // Revoking an expired grant is a conflict: there is nothing left to end.
    expect((await f.api('POST', `/v1/admin/break-glass/${grantId}/revoke`, f.adminToken)).status).toBe(409);

    const events = (await f.auditEvents()).filter((e) => e.action === 'break-glass');
    expect(events.map((e) => [e.outcome, e.reason, e.resource, e.actor])).toEqual([
      ['granted', 'break-glass-grant', { type: 'grant', id: grantId }, { userId: f.adminId, role: 'admin' }],
      ['granted', 'break-glass-grant', { type: 'grant', id: grantId }, { userId: f.adminId, role: 'admin' }],
      ['refused', 'no-break-glass-grant', { type: 'grant', id: grantId }, { userId: f.adminId, role: 'admin' }],
    ]);
    expect(events.map((e) => e.time)).toEqual([start, start + 30 * 60_000 - 1, start + 30 * 60_000]);
    const all = await f.auditEvents();
    expect(all).toContainEqual(
      expect.objectContaining({
        action: 'admin.change',
        reason: 'break-glass-granted',
        resource: { type: 'grant', id: grantId },
      }),
    );
    // The written reason is on the grant, for the patient's access report — never in the audit log.
    const stored = await f.ts.server.store.kysely
      .selectFrom('break_glass_grants')
      .selectAll()
      .where('id', '=', grantId)
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ case_id: c.caseId, admin_id: f.adminId, reason: REASON });
    const log = JSON.stringify(all);
    expect(log).not.toContain('Complaint');
    expect(log).not.toContain('words of the');
  });

  it('refuses after revocation, and refuses another admin the grant', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await caseWithRecords(f);
    const g = await f.api('POST', '/v1/admin/break-glass', f.adminToken, {
      caseId: c.caseId,
      minutes: 240,
      reason: REASON,
    });
    const grantId = g.body.grantId as string;
    const records = `/v1/admin/break-glass/${grantId}/records`;

    const otherAdmin = await f.token(await f.person('admin'), 'admin');
    const notYours = await f.api('GET', records, otherAdmin);
    expect(notYours).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    expect(notYours.text).not.toContain('words of the');

    expect((await f.api('GET', records, f.adminToken)).status).toBe(200);
    f.now += 1000;
    const revoked = await f.api('POST', `/v1/admin/break-glass/${grantId}/revoke`, f.adminToken);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.revokedAt).toBe(new Date(f.now).toISOString());
    const after = await f.api('GET', records, f.adminToken);
    expect(after).toMatchObject({ status: 403, body: { error: 'FORBIDDEN' } });
    expect(after.body.message).toMatch(/revoked/);
    expect((await f.api('POST', `/v1/admin/break-glass/${grantId}/revoke`, f.adminToken)).status).toBe(409);
    const unknown = await f.api('GET', '/v1/admin/break-glass/bg_nothing/records', f.adminToken);
    expect(unknown.status).toBe(404);

    const events = (await f.auditEvents()).filter(
      (e) => e.action === 'break-glass' || e.reason === 'break-glass-revoked',
    );
    expect(events.map((e) => [e.action, e.outcome, e.reason, e.resource?.id])).toEqual([
      ['break-glass', 'refused', 'no-break-glass-grant', grantId],
      ['break-glass', 'granted', 'break-glass-grant', grantId],
      ['admin.change', 'granted', 'break-glass-revoked', grantId],
      ['break-glass', 'refused', 'no-break-glass-grant', grantId],
      ['break-glass', 'refused', 'no-such-grant', 'bg_nothing'],
    ]);
  });

  it('a non-admin cannot take or use a grant', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await caseWithRecords(f);
    const g = await f.api('POST', '/v1/admin/break-glass', f.adminToken, {
      caseId: c.caseId,
      minutes: 5,
      reason: REASON,
    });
    const row = await f.ts.server.store.kysely
      .selectFrom('cases')
      .select(['therapist_id', 'patient_id'])
      .where('id', '=', c.caseId)
      .executeTakeFirstOrThrow();
    for (const [id, role] of [
      [row.therapist_id, 'therapist'],
      [row.patient_id, 'patient'],
    ] as const) {
      const token = await f.token(id, role);
      const take = await f.api('POST', '/v1/admin/break-glass', token, {
        caseId: c.caseId,
        minutes: 5,
        reason: REASON,
      });
      expect(take.status).toBe(403);
      const use = await f.api('GET', `/v1/admin/break-glass/${g.body.grantId}/records`, token);
      expect(use.status).toBe(403);
      expect(use.text).not.toContain('words of the');
    }
  });
});
