/**
 * Accounts and login against a real server: password login, refresh rotation and reuse detection, logout and
 * disable closing live sockets, rate limits, and what never reaches the logs or the database file in clear.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { api, createAccount, login, type Tokens } from './helpers/accounts.js';
import { mintToken, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import type { Authenticator } from '../src/auth/authenticator.js';
import { createAuthenticator } from '../src/auth/create-authenticator.js';
import { loadOrCreateSigningKey } from '../src/auth/signing-key.js';
import { loadConfig } from '../src/config.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { TestClient } from './helpers/test-client.js';

const PASSWORD = 'correct horse battery staple';

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

async function auditReasons(server: TestServer): Promise<string[]> {
  await server.server.audit.flush();
  const rows = await server.server.store.kysely
    .selectFrom('audit_events')
    .select(['action', 'outcome', 'reason'])
    .orderBy('seq')
    .execute();
  return rows.map((r) => `${r.action}:${r.outcome}:${r.reason}`);
}

/** A patient with a password, a therapist, their case and a live appointment. */
async function seedLogin(server: TestServer) {
  const patientId = await createAccount(server, { role: 'patient', login: 'pat.fictional', password: PASSWORD });
  const therapistId = await createAccount(server, { role: 'therapist', login: 'ther.fictional', password: PASSWORD });
  const { caseId } = await openCase(server.server.store, server.server.keys, { patientId, therapistId });
  const { conversationId } = await scheduleAppointment(server.server.store, caseId, { status: 'live' });
  return { patientId, therapistId, caseId, conv: conversationId };
}

describe('password login', () => {
  it('logs in, the access token works on HTTP and WebSocket, and wrong or unknown get the same answer', async () => {
    ts = await startServer();
    const { patientId, conv } = await seedLogin(ts);
    const tokens = await login(ts, 'Pat.Fictional', PASSWORD);
    expect(tokens.user).toEqual({ id: patientId, role: 'patient' });
    expect(tokens.refreshToken).toMatch(/^as_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    // Short-lived access token (15 minutes by default), a 7-day session.
    expect(tokens.expiresAt - Date.now()).toBeGreaterThan(890_000);
    expect(tokens.expiresAt - Date.now()).toBeLessThanOrEqual(900_000);
    expect(tokens.refreshExpiresAt - Date.now()).toBeGreaterThan(7 * 86_400_000 - 10_000);

    const me = await api(ts.httpUrl, 'GET', '/me', { token: tokens.accessToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: patientId, role: 'patient', login: 'pat.fictional', identity: null });

    const c = await TestClient.connect(ts.url);
    expect(await c.auth(tokens.accessToken)).toMatchObject({ type: 'welcome', user: patientId, role: 'patient' });
    expect(await c.join(conv)).toMatchObject({ type: 'joined' });
    await c.close();

    const t0 = Date.now();
    const wrong = await api(ts.httpUrl, 'POST', '/auth/login', {
      body: { login: 'pat.fictional', password: 'x'.repeat(20) },
    });
    const t1 = Date.now();
    const unknown = await api(ts.httpUrl, 'POST', '/auth/login', {
      body: { login: 'nobody.here', password: 'x'.repeat(20) },
    });
    const t2 = Date.now();
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body).toEqual({ error: 'INVALID_CREDENTIALS', message: 'the login name or password is wrong' });
    // Both ran a full argon2id verification (tens of milliseconds at least), so the time does not tell them apart.
    expect(t1 - t0).toBeGreaterThan(20);
    expect(t2 - t1).toBeGreaterThan(20);
    expect(await auditReasons(ts)).toEqual(
      expect.arrayContaining(['auth.login:granted:password', 'auth.refused:refused:bad-credentials']),
    );
  });

  it('stores an argon2id hash, never logs the password or tokens, and keeps identity out of the SQLite file', async () => {
    ts = await startServer();
    const identity = {
      name: 'Fictional Testperson',
      dateOfBirth: '1990-04-01',
      email: 'fictional.testperson@example.invalid',
      phone: '+44 7700 900123',
      nhsNumber: '999 000 0001',
      gp: 'Example Lane Surgery',
    };
    const id = await createAccount(ts, { role: 'patient', login: 'pat.identity', password: PASSWORD, identity });
    const row = await ts.server.store.kysely
      .selectFrom('users')
      .select(['password_hash'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    const tokens = await login(ts, 'pat.identity', PASSWORD);
    const me = await api(ts.httpUrl, 'GET', '/me', { token: tokens.accessToken });
    expect(me.body).toMatchObject({ identity });
    await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: tokens.refreshToken } });

    const logs = ts.logs.text;
    expect(logs).not.toContain(PASSWORD);
    expect(logs).not.toContain(row.password_hash!);
    expect(logs).not.toContain(tokens.accessToken);
    expect(logs).not.toContain(tokens.refreshToken.split('.')[1]);

    await ts.stop();
    const dir = ts.dataDir;
    ts = undefined;
    const bytes = Buffer.concat(
      fs
        .readdirSync(dir)
        .filter((f) => /\.(db|sqlite)(-wal)?$|\.db-|sqlite/.test(f))
        .map((f) => fs.readFileSync(path.join(dir, f))),
    );
    expect(bytes.length).toBeGreaterThan(0);
    for (const value of [...Object.values(identity), PASSWORD, 'Testperson', 'example.invalid']) {
      expect(bytes.includes(Buffer.from(value, 'utf8'))).toBe(false);
    }
    expect(bytes.includes(Buffer.from('pat.identity'))).toBe(true); // the login name is no identity field
  });

  it('limits failed logins per login name and per IP with 429 and Retry-After, without checking the password', async () => {
    let now = Date.now();
    ts = await startServer({}, { now: () => now });
    await seedLogin(ts);
    for (let i = 0; i < 5; i++) {
      const res = await api(ts.httpUrl, 'POST', '/auth/login', {
        body: { login: 'pat.fictional', password: `wrong-${i}-guess!` },
      });
      expect(res.status).toBe(401);
    }
    const t0 = Date.now();
    const limited = await api(ts.httpUrl, 'POST', '/auth/login', {
      body: { login: 'pat.fictional', password: PASSWORD },
    });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'RATE_LIMITED' });
    expect(Number(limited.headers.get('retry-after'))).toBe(900);
    // Another login from the same IP is not blocked by this one's failures.
    expect((await login(ts, 'ther.fictional', PASSWORD)).user.role).toBe('therapist');
    // After the window, the right password works again.
    now += 15 * 60_000 + 1;
    expect((await login(ts, 'pat.fictional', PASSWORD)).user.role).toBe('patient');
    expect(await auditReasons(ts)).toContain('auth.refused:refused:rate-limited');
  });

  it('refuses malformed bodies with VALIDATION_FAILED', async () => {
    ts = await startServer();
    for (const body of [
      {},
      { login: 'a' },
      { login: { name: 'a' }, password: 'x' },
      { login: 'a', password: 'x', admin: true },
      { login: 'a', password: '' },
    ]) {
      const res = await api(ts.httpUrl, 'POST', '/auth/login', { body });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: 'VALIDATION_FAILED' });
    }
  });
});

describe('refresh tokens', () => {
  it('rotate on every refresh; a used-up token coming back ends the whole session', async () => {
    ts = await startServer();
    const { conv } = await seedLogin(ts);
    const first = await login(ts, 'pat.fictional', PASSWORD);
    const second = await api<Tokens>(ts.httpUrl, 'POST', '/auth/refresh', {
      body: { refreshToken: first.refreshToken },
    });
    expect(second.status).toBe(200);
    expect(second.body.refreshToken).not.toBe(first.refreshToken);
    expect(second.body.refreshToken.split('.')[0]).toBe(first.refreshToken.split('.')[0]); // same session
    expect(second.body.refreshExpiresAt).toBe(first.refreshExpiresAt); // absolute lifetime
    const third = await api<Tokens>(ts.httpUrl, 'POST', '/auth/refresh', {
      body: { refreshToken: second.body.refreshToken },
    });
    expect(third.status).toBe(200);

    // The live socket of this session, to see it close when the theft is detected.
    const c = await TestClient.connect(ts.url);
    expect(await c.auth(third.body.accessToken)).toMatchObject({ type: 'welcome' });
    await c.join(conv);

    // The thief (or the victim) presents the rotated-away token: the session ends for everyone holding it.
    const reuse = await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: second.body.refreshToken } });
    expect(reuse.status).toBe(401);
    expect(reuse.body).toMatchObject({ error: 'INVALID_CREDENTIALS' });
    expect((await c.closed).code).toBe(4005);
    const latest = await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: third.body.refreshToken } });
    expect(latest.status).toBe(401);
    const me = await api(ts.httpUrl, 'GET', '/me', { token: third.body.accessToken });
    expect(me.status).toBe(401);
    expect(me.body).toMatchObject({ error: 'UNAUTHENTICATED' });
    expect(await auditReasons(ts)).toEqual(
      expect.arrayContaining(['auth.refresh:granted:refresh-token', 'auth.refused:refused:refresh-reuse']),
    );
  });

  it('end at the absolute session lifetime, and unknown or malformed tokens get INVALID_CREDENTIALS', async () => {
    let now = Date.now();
    ts = await startServer({ REFRESH_TOKEN_TTL_SECONDS: '3600' }, { now: () => now });
    await seedLogin(ts);
    const tokens = await login(ts, 'pat.fictional', PASSWORD);
    expect(tokens.refreshExpiresAt).toBe(now + 3_600_000);
    for (const refreshToken of ['nonsense', `${tokens.refreshToken.split('.')[0]}.${'A'.repeat(43)}`]) {
      const res = await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken } });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: 'INVALID_CREDENTIALS' });
    }
    now += 3_600_000;
    const late = await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: tokens.refreshToken } });
    expect(late.status).toBe(401);
  });
});

describe('logout and disable', () => {
  it('logout closes that session’s socket at once with 4005, refuses its tokens, and leaves other sessions', async () => {
    ts = await startServer();
    const { conv } = await seedLogin(ts);
    const phone = await login(ts, 'pat.fictional', PASSWORD);
    const laptop = await login(ts, 'pat.fictional', PASSWORD);
    const a = await TestClient.connect(ts.url);
    const b = await TestClient.connect(ts.url);
    await a.auth(phone.accessToken);
    await b.auth(laptop.accessToken);
    await a.join(conv);
    await b.join(conv);

    const t0 = Date.now();
    const out = await api(ts.httpUrl, 'POST', '/auth/logout', { token: phone.accessToken });
    expect(out.status).toBe(204);
    const closed = await a.closed;
    expect(closed.code).toBe(4005);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(b.isClosed).toBe(false);

    // The logged-out access token is refused everywhere, though it has not expired.
    expect((await api(ts.httpUrl, 'GET', '/me', { token: phone.accessToken })).status).toBe(401);
    const again = await TestClient.connect(ts.url);
    expect(await again.auth(phone.accessToken)).toMatchObject({ type: 'error', code: 'SESSION_ENDED' });
    expect((await again.closed).code).toBe(4005);
    const refresh = await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: phone.refreshToken } });
    expect(refresh.status).toBe(401);
    // The other session goes on.
    expect((await b.sendText(conv, 'still here')).type).toBe('ack');
    expect((await api(ts.httpUrl, 'GET', '/me', { token: laptop.accessToken })).status).toBe(200);
    await b.close();
    expect(await auditReasons(ts)).toContain('auth.logout:granted:logout');
  });

  it('a token that belongs to no login session cannot log out', async () => {
    ts = await startServer();
    const s = await ts.seed();
    const res = await api(ts.httpUrl, 'POST', '/auth/logout', { token: s.patientToken });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'CONFLICT' });
  });

  it('disable closes every socket of the account with 4003 and refuses logins, refreshes and tokens', async () => {
    ts = await startServer();
    const { patientId, conv } = await seedLogin(ts);
    const adminId = await createAccount(ts, { role: 'admin', login: 'admin.fictional', password: PASSWORD });
    const admin = await login(ts, 'admin.fictional', PASSWORD);
    const tokens = await login(ts, 'pat.fictional', PASSWORD);
    const devToken = await mintToken(ts.dataDir, patientId, 'patient');
    const a = await TestClient.connect(ts.url);
    const b = await TestClient.connect(ts.url);
    await a.auth(tokens.accessToken);
    await b.auth(devToken);
    await a.join(conv);

    const t0 = Date.now();
    const res = await api(ts.httpUrl, 'POST', `/admin/users/${patientId}/disable`, { token: admin.accessToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: patientId, status: 'disabled' });
    expect((await a.closed).code).toBe(4003);
    expect((await b.closed).code).toBe(4003);
    expect(Date.now() - t0).toBeLessThan(1000);

    const again = await api(ts.httpUrl, 'POST', '/auth/login', {
      body: { login: 'pat.fictional', password: PASSWORD },
    });
    expect(again.status).toBe(403);
    expect(again.body).toMatchObject({ error: 'ACCOUNT_DISABLED' });
    // A wrong password still says only that the credentials are wrong.
    const wrong = await api(ts.httpUrl, 'POST', '/auth/login', {
      body: { login: 'pat.fictional', password: 'y'.repeat(16) },
    });
    expect(wrong.body).toMatchObject({ error: 'INVALID_CREDENTIALS' });
    expect(
      (await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: tokens.refreshToken } })).status,
    ).toBe(401);
    const me = await api(ts.httpUrl, 'GET', '/me', { token: devToken });
    expect(me.status).toBe(403);
    expect(me.body).toMatchObject({ error: 'ACCOUNT_DISABLED' });
    const c = await TestClient.connect(ts.url);
    expect(await c.auth(devToken)).toMatchObject({ type: 'error', code: 'ACCOUNT_DISABLED' });
    expect((await c.closed).code).toBe(4003);

    // Enabled again: a fresh login works; the old session stays ended.
    expect(
      (await api(ts.httpUrl, 'POST', `/admin/users/${patientId}/enable`, { token: admin.accessToken })).body,
    ).toMatchObject({
      status: 'active',
    });
    expect((await login(ts, 'pat.fictional', PASSWORD)).user.id).toBe(patientId);
    expect((await api(ts.httpUrl, 'GET', '/me', { token: tokens.accessToken })).status).toBe(401);
    void adminId;
  });

  it('a token for a user the store does not know, or with another role than the account, is refused', async () => {
    ts = await startServer();
    const s = await ts.seed();
    const c = await TestClient.connect(ts.url);
    expect(await c.auth(await mintToken(ts.dataDir, 'u_nobody', 'patient'))).toMatchObject({
      type: 'error',
      code: 'INVALID_TOKEN',
    });
    expect((await c.closed).code).toBe(4001);
    const d = await TestClient.connect(ts.url);
    expect(await d.auth(await mintToken(ts.dataDir, s.patientId, 'therapist'))).toMatchObject({
      type: 'error',
      code: 'INVALID_TOKEN',
    });
    expect((await d.closed).code).toBe(4001);
    const me = await api(ts.httpUrl, 'GET', '/me', { token: await mintToken(ts.dataDir, 'u_nobody', 'admin') });
    expect(me.status).toBe(401);
  });

  it('a logout while the socket’s token check is in flight still closes it (4005): the revocation wins the race', async () => {
    const dataDir = tempDataDir();
    const store = new SqliteStore({ dataDir });
    await store.migrate();
    const inner = createAuthenticator(loadConfig({ DATA_DIR: dataDir }), store, await loadOrCreateSigningKey(dataDir));
    // Holds one WebSocket token check after the account check passed, until the test lets it go.
    let hold: { checked: () => void; release: Promise<void> } | undefined;
    const authenticator: Authenticator = {
      async authenticate(token, now) {
        const result = await inner.authenticate(token, now);
        const h = hold;
        hold = undefined;
        if (h) {
          h.checked();
          await h.release;
        }
        return result;
      },
    };
    ts = await startServer({}, { store, authenticator }, dataDir);
    await seedLogin(ts);
    const tokens = await login(ts, 'pat.fictional', PASSWORD);
    let release!: () => void;
    const checked = new Promise<void>((resolve) => {
      hold = { checked: resolve, release: new Promise<void>((r) => (release = r)) };
    });
    const c = await TestClient.connect(ts.url);
    c.send({ type: 'auth', id: 1, token: tokens.accessToken });
    await checked; // the account check passed; the answer is not out yet
    expect((await api(ts.httpUrl, 'POST', '/auth/logout', { token: tokens.accessToken })).status).toBe(204);
    release();
    expect((await c.closed).code).toBe(4005);
    expect(c.frames.some((f) => f.type === 'welcome')).toBe(false);
  });
});
