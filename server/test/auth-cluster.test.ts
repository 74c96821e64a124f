/**
 * Logout and disable on one node close the user's sockets on the other: two nodes sharing PostgreSQL and Redis,
 * the revocation travelling over the bus's node-wide channel.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { api, createAccount, login } from './helpers/accounts.js';
import { startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres, privateRedis, redis, REDIS_URL } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';

const ready = (await postgres()).available && (await redis()).available;
const PASSWORD = 'a fictional cluster passphrase';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe.skipIf(!ready)('revocation across nodes (PostgreSQL + Redis)', () => {
  it('logout on node A closes that session on node B (4005); disable on A closes every socket on B (4003)', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const dataDir = tempDataDir();
    const env = { DATABASE_URL: db.url, REDIS_URL: REDIS_URL };
    const a: TestServer = await startServer(env, {}, dataDir);
    cleanups.push(() => a.stop());
    const b: TestServer = await startServer(env, {}, dataDir);
    cleanups.push(() => b.stop());

    const patientId = await createAccount(a, { role: 'patient', login: 'pat.cluster', password: PASSWORD });
    const therapistId = await createAccount(a, { role: 'therapist', login: 'ther.cluster', password: PASSWORD });
    await createAccount(a, { role: 'admin', login: 'admin.cluster', password: PASSWORD });
    const { caseId } = await openCase(a.server.store, a.server.keys, { patientId, therapistId });
    const { conversationId: conv } = await scheduleAppointment(a.server.store, caseId, { status: 'live' });

    const phone = await login(a, 'pat.cluster', PASSWORD);
    const laptop = await login(a, 'pat.cluster', PASSWORD);
    const onB1 = await TestClient.connect(b.url);
    const onB2 = await TestClient.connect(b.url);
    expect(await onB1.auth(phone.accessToken)).toMatchObject({ type: 'welcome' });
    expect(await onB2.auth(laptop.accessToken)).toMatchObject({ type: 'welcome' });
    await onB1.join(conv);
    await onB2.join(conv);

    let t0 = Date.now();
    expect((await api(a.httpUrl, 'POST', '/auth/logout', { token: phone.accessToken })).status).toBe(204);
    expect((await onB1.closed).code).toBe(4005);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(onB2.isClosed).toBe(false);

    const admin = await login(a, 'admin.cluster', PASSWORD);
    t0 = Date.now();
    expect(
      (await api(a.httpUrl, 'POST', `/admin/users/${patientId}/disable`, { token: admin.accessToken })).status,
    ).toBe(200);
    expect((await onB2.closed).code).toBe(4003);
    expect(Date.now() - t0).toBeLessThan(1000);
    // And node B refuses the account from now on, too.
    expect(
      (await api(b.httpUrl, 'POST', '/auth/login', { body: { login: 'pat.cluster', password: PASSWORD } })).status,
    ).toBe(403);
  });

  it('a logout published while Redis was down still closes the socket on node B once the bus is back', async () => {
    const db = await freshPostgresDatabase();
    cleanups.push(db.drop);
    const r = await privateRedis();
    cleanups.push(() => r.kill());
    const dataDir = tempDataDir();
    const env = { DATABASE_URL: db.url, REDIS_URL: r.url };
    const a = await startServer(env, {}, dataDir);
    cleanups.push(() => a.stop());
    const b = await startServer(env, {}, dataDir);
    cleanups.push(() => b.stop());
    await createAccount(a, { role: 'patient', login: 'pat.outage', password: PASSWORD });
    const tokens = await login(a, 'pat.outage', PASSWORD);
    const onB = await TestClient.connect(b.url);
    expect(await onB.auth(tokens.accessToken)).toMatchObject({ type: 'welcome' });

    await r.kill();
    expect((await api(a.httpUrl, 'POST', '/auth/logout', { token: tokens.accessToken })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(onB.isClosed).toBe(false); // the bus event was lost
    await r.start();
    expect((await onB.closed).code).toBe(4005);
  });
});
