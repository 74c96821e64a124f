/**
 * The admin API for contracts, cases, assignments, discharge, re-referral and appointments, against a real server
 * (SQLite, and PostgreSQL when reachable), with real WebSocket clients where access is what changes.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { decide } from '../src/policy/access-policy.js';
import { loadCaseAccess } from '../src/policy/case-access.js';
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
afterAll(async () => {
  await fx?.stop();
});

async function connect(f: AdminFixture, token: string): Promise<TestClient> {
  const c = await TestClient.connect(f.ts.url);
  clients.push(c);
  await c.auth(token);
  return c;
}

/** A therapist, a supervisor and an adult patient, and their case opened through the API. */
async function openAdultCase(f: AdminFixture, extra: Record<string, unknown> = {}) {
  const patientId = await f.person('patient', birthDate(f.now, 30));
  const therapistId = await f.person('therapist');
  const supervisorId = await f.person('supervisor');
  const res = await f.api('POST', '/v1/admin/cases', f.adminToken, { patientId, therapistId, supervisorId, ...extra });
  expect(res.status, res.text).toBe(201);
  return {
    patientId,
    therapistId,
    supervisorId,
    caseId: res.body.caseId as string,
    threadId: res.body.threadId as string,
  };
}

describe.each(KINDS)('admin API on %s', (kind) => {
  it('creates contracts with a minimum age of 12, 16 or 18 and lists them with the default', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c16 = await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: 'Youth service', minAge: 16 });
    expect(c16.status).toBe(201);
    expect(c16.body).toMatchObject({ name: 'Youth service', minAge: 16 });
    expect(c16.body.contractId).toMatch(/^ct_/);
    for (const minAge of [0, 14, 21, 16.5, 'sixteen']) {
      const bad = await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: 'Odd', minAge });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toBe('VALIDATION_FAILED');
    }
    expect((await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: '', minAge: 12 })).status).toBe(400);
    const list = await f.api('GET', '/v1/admin/contracts', f.adminToken);
    expect(list.status).toBe(200);
    expect(list.body.contracts).toEqual([
      { contractId: 'default', name: 'Default contract', minAge: 18, createdAt: new Date(0).toISOString() },
      c16.body,
    ]);
    const events = await f.auditEvents();
    expect(events.filter((e) => e.action === 'admin.change' && e.reason === 'contract-created')).toHaveLength(1);
  });

  it('applies the age rules: 18 by default, 16 and 12 by contract, and under 16 only with referral and consent', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const therapistId = await f.person('therapist');
    const supervisorId = await f.person('supervisor');
    const c16 = (await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: 'From 16', minAge: 16 })).body
      .contractId as string;
    const c12 = (await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: 'From 12', minAge: 12 })).body
      .contractId as string;
    const open = async (dob: string | undefined, extra: Record<string, unknown> = {}) => {
      const patientId = await f.person('patient', dob);
      return f.api('POST', '/v1/admin/cases', f.adminToken, { patientId, therapistId, supervisorId, ...extra });
    };
    const today = (years: number) => birthDate(f.now, years); // the birthday is today
    const tomorrow = (years: number) => birthDate(f.now, years, 1); // the birthday is tomorrow

    // Default contract: 18.
    expect((await open(today(18))).status).toBe(201);
    const young = await open(tomorrow(18));
    expect(young.status).toBe(422);
    expect(young.body).toMatchObject({ error: 'AGE_RULE' });
    expect(young.body.message).toMatch(/minimum age is 18/);
    // A 16 contract.
    expect((await open(today(16), { contractId: c16 })).status).toBe(201);
    expect((await open(tomorrow(16), { contractId: c16 })).status).toBe(422);
    // A 12 contract: from 16 nothing more is needed.
    expect((await open(today(16), { contractId: c12 })).status).toBe(201);
    // Under 16 on a 12 contract: referral and consent both needed, and the refusal names what is missing.
    const neither = await open(tomorrow(16), { contractId: c12 });
    expect(neither.status).toBe(422);
    expect(neither.body.message).toMatch(/verified referral .* and .*guardian consent/);
    const noConsent = await open(today(14), { contractId: c12, referralVerified: true });
    expect(noConsent.status).toBe(422);
    expect(noConsent.body.message).toMatch(/guardian consent/);
    expect(noConsent.body.message).not.toMatch(/referral/);
    const noReferral = await open(today(14), { contractId: c12, guardianConsent: true, referralVerified: false });
    expect(noReferral.status).toBe(422);
    expect(noReferral.body.message).toMatch(/verified referral/);
    const both = await open(today(12), { contractId: c12, referralVerified: true, guardianConsent: true });
    expect(both.status, both.text).toBe(201);
    const got = await f.api('GET', `/v1/admin/cases/${both.body.caseId}`, f.adminToken);
    expect(got.body).toMatchObject({
      contractId: c12,
      referralVerifiedAt: new Date(f.now).toISOString(),
      guardianConsentAt: new Date(f.now).toISOString(),
    });
    // Below the contract's minimum, consent does not help.
    const eleven = await open(tomorrow(12), { contractId: c12, referralVerified: true, guardianConsent: true });
    expect(eleven.status).toBe(422);
    expect(eleven.body.message).toMatch(/minimum age is 12/);
    // No date of birth on record: refused, never guessed.
    const unknown = await open(undefined);
    expect(unknown.status).toBe(422);
    expect(unknown.body.message).toMatch(/no date of birth/);
    // Only the allowed ones opened cases.
    const opened = await f.ts.server.store.kysely.selectFrom('cases').select('id').execute();
    expect(opened).toHaveLength(4);
  });

  it('checks the people, the contract and the earlier case it is given', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const patientId = await f.person('patient', birthDate(f.now, 40));
    const therapistId = await f.person('therapist');
    const supervisorId = await f.person('supervisor');
    const ok = { patientId, therapistId, supervisorId };
    const post = (body: Record<string, unknown>) => f.api('POST', '/v1/admin/cases', f.adminToken, body);
    const swapped = await post({ ...ok, patientId: therapistId, therapistId: patientId });
    expect(swapped).toMatchObject({ status: 400, body: { error: 'VALIDATION_FAILED' } });
    expect(swapped.body.message).toMatch(/patientId: .* is a therapist, not a patient/);
    expect((await post({ ...ok, supervisorId: therapistId })).status).toBe(400);
    expect((await post({ ...ok, therapistId: 'u_nobody' })).body).toMatchObject({ error: 'NOT_FOUND' });
    expect((await post({ ...ok, contractId: 'ct_nothing' })).body).toMatchObject({ error: 'NOT_FOUND' });
    expect((await post({ ...ok, previousCaseId: 'C-0000-0000' })).body).toMatchObject({ error: 'NOT_FOUND' });
    expect((await post({ ...ok, surprise: true })).status).toBe(400);
    expect((await post({ patientId, therapistId })).status).toBe(400);
    await f.ts.server.store.kysely
      .updateTable('users')
      .set({ status: 'disabled' })
      .where('id', '=', therapistId)
      .execute();
    expect((await post(ok)).body).toMatchObject({ error: 'CONFLICT' });
    await f.ts.server.store.kysely
      .updateTable('users')
      .set({ status: 'active' })
      .where('id', '=', therapistId)
      .execute();

    const first = await post(ok);
    expect(first.status).toBe(201);
    // Re-referral needs the earlier case discharged, and the same patient.
    const early = await post({ ...ok, previousCaseId: first.body.caseId });
    expect(early).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    await f.api('POST', `/v1/admin/cases/${first.body.caseId}/discharge`, f.adminToken);
    const other = await f.person('patient', birthDate(f.now, 33));
    const foreign = await post({ ...ok, patientId: other, previousCaseId: first.body.caseId });
    expect(foreign).toMatchObject({ status: 400, body: { error: 'VALIDATION_FAILED' } });
    expect((await post({ ...ok, previousCaseId: first.body.caseId })).status).toBe(201);
  });

  it('reassigns a case: GET shows the new therapist, and the old one is refused on join from then on', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await openAdultCase(f);
    const oldT = await connect(f, await f.token(c.therapistId, 'therapist'));
    expect((await oldT.join(c.threadId)).type).toBe('joined');

    const newTherapist = await f.person('therapist');
    const newSupervisor = await f.person('supervisor');
    // Live subscriptions are re-decided on every node through this hook (the policy's revocation implements it).
    const accessChanged = vi.spyOn(f.ts.server.chat, 'accessChanged');
    const res = await f.api('POST', `/v1/admin/cases/${c.caseId}/assign`, f.adminToken, {
      therapistId: newTherapist,
      supervisorId: newSupervisor,
    });
    expect(res.status, res.text).toBe(200);
    const got = await f.api('GET', `/v1/admin/cases/${c.caseId}`, f.adminToken);
    expect(got.body).toMatchObject({ caseId: c.caseId, therapistId: newTherapist, supervisorId: newSupervisor });
    expect(accessChanged).toHaveBeenCalledWith(c.caseId);

    const refused = await oldT.join(c.threadId);
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    const newT = await connect(f, await f.token(newTherapist, 'therapist'));
    expect((await newT.join(c.threadId)).type).toBe('joined');

    // Bad requests: nothing named, a patient as therapist, an unknown case.
    const path = `/v1/admin/cases/${c.caseId}/assign`;
    expect((await f.api('POST', path, f.adminToken, {})).status).toBe(400);
    expect((await f.api('POST', path, f.adminToken, { therapistId: c.patientId })).status).toBe(400);
    expect(
      (await f.api('POST', '/v1/admin/cases/C-0000-0000/assign', f.adminToken, { therapistId: newTherapist })).body,
    ).toMatchObject({ error: 'NOT_FOUND' });
    const events = await f.auditEvents();
    expect(events).toContainEqual(
      expect.objectContaining({
        action: 'admin.change',
        outcome: 'granted',
        reason: 'case-reassigned',
        resource: { type: 'case', id: c.caseId },
        actor: { userId: f.adminId, role: 'admin' },
      }),
    );
  });

  it('discharges a case once: appointments not started are cancelled, a live one ends, nothing more is scheduled', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await openAdultCase(f);
    const at = new Date(f.now + 86_400_000).toISOString();
    const a1 = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    const a2 = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    const a3 = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    expect(a1.status).toBe(201);
    await f.ts.server.store.setAppointmentStatus(a2.body.appointmentId, 'live', f.now);
    await f.ts.server.store.setAppointmentStatus(a3.body.appointmentId, 'waiting', f.now);

    f.now += 60_000;
    const accessChanged = vi.spyOn(f.ts.server.chat, 'accessChanged');
    const d = await f.api('POST', `/v1/admin/cases/${c.caseId}/discharge`, f.adminToken);
    expect(accessChanged).toHaveBeenCalledWith(c.caseId);
    expect(d.status, d.text).toBe(200);
    expect(d.body).toEqual({
      caseId: c.caseId,
      status: 'discharged',
      dischargedAt: new Date(f.now).toISOString(),
      cancelledAppointments: 2,
      endedAppointments: 1,
    });
    const got = await f.api('GET', `/v1/admin/cases/${c.caseId}`, f.adminToken);
    expect(got.body.status).toBe('discharged');
    expect(got.body.dischargedAt).toBe(new Date(f.now).toISOString());
    const statuses = Object.fromEntries(
      (got.body.appointments as { appointmentId: string; status: string }[]).map((a) => [a.appointmentId, a.status]),
    );
    expect(statuses).toEqual({
      [a1.body.appointmentId]: 'cancelled',
      [a2.body.appointmentId]: 'ended',
      [a3.body.appointmentId]: 'cancelled',
    });

    const again = await f.api('POST', `/v1/admin/cases/${c.caseId}/discharge`, f.adminToken);
    expect(again).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    const late = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    expect(late).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    const reassign = await f.api('POST', `/v1/admin/cases/${c.caseId}/assign`, f.adminToken, {
      therapistId: await f.person('therapist'),
    });
    expect(reassign.status).toBe(409);
    expect((await f.api('POST', '/v1/admin/cases/C-0000-0000/discharge', f.adminToken)).status).toBe(404);

    // The patient may still read the thread, which takes nothing more.
    const patient = await connect(f, await f.token(c.patientId, 'patient'));
    expect(await patient.join(c.threadId)).toMatchObject({ type: 'joined', closed: true });
    const events = await f.auditEvents();
    expect(events.filter((e) => e.reason === 'case-discharged')).toHaveLength(1);
    const changes = events
      .filter((e) => e.action === 'appointment.change')
      .map((e) => `${e.resource?.id} ${e.reason}`)
      .sort();
    expect(changes).toEqual(
      [
        `${a1.body.appointmentId} cancelled`,
        `${a2.body.appointmentId} ended`,
        `${a3.body.appointmentId} cancelled`,
      ].sort(),
    );
  });

  it('schedules and cancels appointments; only ones not started can be cancelled', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await openAdultCase(f);
    const scheduledAt = '2030-01-02T10:00:00.000Z';
    const a = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ caseId: c.caseId, status: 'scheduled', scheduledAt });
    expect(a.body.appointmentId).toMatch(/^ap_/);
    expect(a.body.conversationId).toMatch(/^cv_/);
    // The patient can see the appointment's transcript exists (joins it) while it is scheduled.
    const info = await f.ts.server.store.getConversation(a.body.conversationId);
    expect(info).toMatchObject({ kind: 'appointment', caseId: c.caseId, appointmentStatus: 'scheduled' });

    const accessChanged = vi.spyOn(f.ts.server.chat, 'accessChanged');
    const cancel = await f.api('POST', `/v1/admin/appointments/${a.body.appointmentId}/cancel`, f.adminToken);
    expect(accessChanged).toHaveBeenCalledWith(c.caseId);
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body).toEqual({ appointmentId: a.body.appointmentId, caseId: c.caseId, status: 'cancelled' });
    const twice = await f.api('POST', `/v1/admin/appointments/${a.body.appointmentId}/cancel`, f.adminToken);
    expect(twice).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });

    for (const status of ['live', 'ended'] as const) {
      const b = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt });
      await f.ts.server.store.setAppointmentStatus(b.body.appointmentId, status, f.now);
      const r = await f.api('POST', `/v1/admin/appointments/${b.body.appointmentId}/cancel`, f.adminToken);
      expect(r).toMatchObject({ status: 409, body: { error: 'CONFLICT' } });
    }
    const w = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt });
    await f.ts.server.store.setAppointmentStatus(w.body.appointmentId, 'waiting', f.now);
    expect((await f.api('POST', `/v1/admin/appointments/${w.body.appointmentId}/cancel`, f.adminToken)).status).toBe(
      200,
    );

    expect((await f.api('POST', '/v1/admin/appointments/ap_none/cancel', f.adminToken)).status).toBe(404);
    expect(
      (await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: 'C-0000-0000', scheduledAt })).status,
    ).toBe(404);
    for (const bad of ['tomorrow', '2030-13-01T00:00:00Z', 12345]) {
      const r = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: bad });
      expect(r).toMatchObject({ status: 400, body: { error: 'VALIDATION_FAILED' } });
    }
    const events = await f.auditEvents();
    expect(events.filter((e) => e.reason === 'appointment-scheduled')).toHaveLength(4);
    expect(events.filter((e) => e.action === 'appointment.change').map((e) => [e.reason, e.resource?.id])).toEqual([
      ['cancelled', a.body.appointmentId],
      ['cancelled', w.body.appointmentId],
    ]);
    expect(events.filter((e) => e.reason === 'appointment-cancelled')).toEqual([
      expect.objectContaining({ resource: { type: 'appointment', id: a.body.appointmentId } }),
      expect.objectContaining({ resource: { type: 'appointment', id: w.body.appointmentId } }),
    ]);
  });

  it('settles races: one discharge wins, one cancel wins, and no appointment stays open in a discharged case', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const c = await openAdultCase(f);
    const scheduledAt = new Date(f.now + 86_400_000).toISOString();
    const schedule = () => f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt });
    const one = await schedule();
    const cancels = await Promise.all(
      [1, 2, 3].map(() => f.api('POST', `/v1/admin/appointments/${one.body.appointmentId}/cancel`, f.adminToken)),
    );
    expect(cancels.map((r) => r.status).sort()).toEqual([200, 409, 409]);

    const results = await Promise.all([
      ...Array.from({ length: 8 }, schedule),
      f.api('POST', `/v1/admin/cases/${c.caseId}/discharge`, f.adminToken),
      f.api('POST', `/v1/admin/cases/${c.caseId}/discharge`, f.adminToken),
      ...Array.from({ length: 8 }, schedule),
    ]);
    const discharges = results.slice(8, 10).map((r) => r.status);
    expect(discharges.sort()).toEqual([200, 409]);
    for (const r of [...results.slice(0, 8), ...results.slice(10)]) expect([201, 409]).toContain(r.status);
    const got = await f.api('GET', `/v1/admin/cases/${c.caseId}`, f.adminToken);
    expect(got.body.status).toBe('discharged');
    const open = (got.body.appointments as { status: string }[]).filter((a) => a.status !== 'cancelled');
    expect(open).toEqual([]);
  });

  it('re-refers a former patient: the cases are linked and the new therapist may read, not write, the earlier case', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const first = await openAdultCase(f);
    await f.api('POST', `/v1/admin/cases/${first.caseId}/discharge`, f.adminToken);
    const newTherapist = await f.person('therapist');
    const second = await f.api('POST', '/v1/admin/cases', f.adminToken, {
      patientId: first.patientId,
      therapistId: newTherapist,
      supervisorId: first.supervisorId,
      previousCaseId: first.caseId,
    });
    expect(second.status, second.text).toBe(201);
    expect((await f.api('GET', `/v1/admin/cases/${second.body.caseId}`, f.adminToken)).body).toMatchObject({
      previousCaseId: first.caseId,
      therapistId: newTherapist,
      status: 'active',
    });
    expect((await f.api('GET', `/v1/admin/cases/${first.caseId}`, f.adminToken)).body).toMatchObject({
      laterCaseIds: [second.body.caseId],
      status: 'discharged',
    });
    // What the access policy decides from the stored link.
    const access = (await loadCaseAccess(f.ts.server.store.kysely, first.caseId))!;
    const actor = { userId: newTherapist, role: 'therapist' as const };
    const thread = { kind: 'thread' as const, appointmentStatus: null };
    expect(decide(actor, 'conversation.read', { case: access, conversation: thread }, f.now)).toMatchObject({
      allow: true,
      rule: 're-referral-therapist',
    });
    expect(decide(actor, 'conversation.send', { case: access, conversation: thread }, f.now)).toMatchObject({
      allow: false,
    });
    // A therapist with no such link gets nothing.
    const stranger = { userId: await f.person('therapist'), role: 'therapist' as const };
    expect(decide(stranger, 'conversation.read', { case: access, conversation: thread }, f.now).allow).toBe(false);
  });

  it('the re-referred patient’s new therapist joins the earlier case’s thread read-only over the WebSocket', async () => {
    fx = await startAdminFixture(kind);
    const f = fx;
    const first = await openAdultCase(f);
    const patient = await connect(f, await f.token(first.patientId, 'patient'));
    await patient.join(first.threadId);
    expect((await patient.sendText(first.threadId, 'before the discharge')).type).toBe('ack');
    await f.api('POST', `/v1/admin/cases/${first.caseId}/discharge`, f.adminToken);
    const newTherapist = await f.person('therapist');
    await f.api('POST', '/v1/admin/cases', f.adminToken, {
      patientId: first.patientId,
      therapistId: newTherapist,
      supervisorId: first.supervisorId,
      previousCaseId: first.caseId,
    });
    const t = await connect(f, await f.token(newTherapist, 'therapist'));
    expect(await t.join(first.threadId, 0)).toMatchObject({ type: 'joined', closed: true });
    expect((await t.waitForSeq(first.threadId, 1)).text).toBe('before the discharge');
    expect(await t.sendText(first.threadId, 'may not')).toMatchObject({ type: 'error' });
  });
});

describe('admin routes', () => {
  const ROUTES: ['GET' | 'POST', string][] = [
    ['POST', '/v1/admin/contracts'],
    ['GET', '/v1/admin/contracts'],
    ['POST', '/v1/admin/cases'],
    ['GET', '/v1/admin/cases/C-0000-0000'],
    ['POST', '/v1/admin/cases/C-0000-0000/assign'],
    ['POST', '/v1/admin/cases/C-0000-0000/discharge'],
    ['POST', '/v1/admin/appointments'],
    ['POST', '/v1/admin/appointments/ap_x/cancel'],
    ['POST', '/v1/admin/break-glass'],
    ['GET', '/v1/admin/break-glass/bg_x/records'],
    ['POST', '/v1/admin/break-glass/bg_x/revoke'],
  ];

  it('are all in the OpenAPI document, and refuse every non-admin with 403 and no token with 401', async () => {
    fx = await startAdminFixture('sqlite');
    const f = fx;
    const doc = await f.api('GET', '/v1/openapi.json', undefined);
    const documented = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`),
    );
    for (const [method, path] of ROUTES) {
      const templated = path
        .replace('C-0000-0000', '{caseId}')
        .replace(/ap_x/, '{appointmentId}')
        .replace(/bg_x/, '{grantId}');
      expect(documented).toContain(`${method} ${templated}`);
    }
    const tokens = [
      await f.token(await f.person('patient', '1990-01-01'), 'patient'),
      await f.token(await f.person('therapist'), 'therapist'),
      await f.token(await f.person('supervisor'), 'supervisor'),
    ];
    for (const [method, path] of ROUTES) {
      for (const token of tokens) {
        // Even with a body that would be invalid: who you are is checked first.
        const res = await f.api(method, path, token, method === 'POST' ? { nonsense: 1 } : undefined);
        expect([path, res.status, res.body?.error]).toEqual([path, 403, 'FORBIDDEN']);
      }
      const anonymous = await f.api(method, path, undefined);
      expect([path, anonymous.status, anonymous.body?.error]).toEqual([path, 401, 'UNAUTHENTICATED']);
    }
    // Nothing was changed.
    expect(await f.ts.server.store.kysely.selectFrom('contracts').select('id').execute()).toHaveLength(1);
  });

  it('answer bad input with a stable code and keep serving', async () => {
    fx = await startAdminFixture('sqlite');
    const f = fx;
    const post = (body: string, type = 'application/json') =>
      fetch(`${f.ts.httpUrl}/v1/admin/contracts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${f.adminToken}`, 'content-type': type },
        body,
      });
    for (const [body, type, status, code] of [
      ['{"name": "x", "minAge": 16', 'application/json', 400, 'VALIDATION_FAILED'],
      ['name=x&minAge=16', 'application/x-www-form-urlencoded', 400, 'VALIDATION_FAILED'],
      ['null', 'application/json', 400, 'VALIDATION_FAILED'],
      ['[]', 'application/json', 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ name: 'x'.repeat(100_000), minAge: 16 }), 'application/json', 413, 'PAYLOAD_TOO_LARGE'],
    ] as const) {
      const res = await post(body, type);
      expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([status, code]);
    }
    for (const path of ['/v1/admin/cases/not-a-ref', '/v1/admin/cases/C-0000-000%00']) {
      const res = await f.api('GET', path, f.adminToken);
      expect([res.status, res.body.error]).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await post(JSON.stringify({ name: 'Still fine', minAge: 18 }))).status).toBe(201);
  });

  it('never answer an admin with message text', async () => {
    fx = await startAdminFixture('sqlite');
    const f = fx;
    const MARKER = 'zebra-7f3k-private-words';
    const c = await openAdultCase(f);
    const at = new Date(f.now + 3_600_000).toISOString();
    const ap = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    await f.ts.server.store.setAppointmentStatus(ap.body.appointmentId, 'live', f.now);
    const patient = await connect(f, await f.token(c.patientId, 'patient'));
    const therapist = await connect(f, await f.token(c.therapistId, 'therapist'));
    await patient.join(c.threadId);
    await patient.join(ap.body.conversationId);
    await therapist.join(ap.body.conversationId);
    expect((await patient.sendText(c.threadId, `thread ${MARKER}`)).type).toBe('ack');
    expect((await patient.sendText(ap.body.conversationId, `session ${MARKER}`)).type).toBe('ack');
    expect((await therapist.sendText(ap.body.conversationId, `reply ${MARKER}`)).type).toBe('ack');

    // Every admin route but break-glass reads (the one exception, tested on its own).
    await f.api('GET', '/v1/admin/contracts', f.adminToken);
    await f.api('POST', '/v1/admin/contracts', f.adminToken, { name: 'Another', minAge: 16 });
    await f.api('GET', `/v1/admin/cases/${c.caseId}`, f.adminToken);
    await f.api('POST', `/v1/admin/cases/${c.caseId}/assign`, f.adminToken, {
      supervisorId: await f.person('supervisor'),
    });
    const a2 = await f.api('POST', '/v1/admin/appointments', f.adminToken, { caseId: c.caseId, scheduledAt: at });
    await f.api('POST', `/v1/admin/appointments/${a2.body.appointmentId}/cancel`, f.adminToken);
    const g = await f.api('POST', '/v1/admin/break-glass', f.adminToken, {
      caseId: c.caseId,
      reason: 'Complaint investigation reference 2041, requested by the clinical lead',
      minutes: 5,
    });
    await f.api('POST', `/v1/admin/break-glass/${g.body.grantId}/revoke`, f.adminToken);
    await f.api('POST', `/v1/admin/cases/${c.caseId}/discharge`, f.adminToken);
    await f.api('GET', `/v1/admin/cases/${c.caseId}`, f.adminToken);

    const paths = new Set(f.adminAnswers.map((a) => a.path.replace(/C-[0-9A-Z-]+|ap_[\w-]+|bg_[\w-]+/g, ':id')));
    expect(paths.size).toBe(9);
    for (const a of f.adminAnswers) expect(a.text, a.path).not.toContain(MARKER);
    // And the audit log holds none of it either.
    expect(JSON.stringify(await f.auditEvents())).not.toContain(MARKER);
  });
});
