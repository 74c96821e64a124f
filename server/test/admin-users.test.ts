/** The admin account routes and the first-admin CLI, against a real server and a real SQLite file. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api, createAccount, login } from './helpers/accounts.js';
import { REPO_ROOT, startServer, tempDataDir, type TestServer } from './helpers/harness.js';

const PASSWORD = 'a fictional admin passphrase';

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

async function asAdmin(server: TestServer): Promise<{ id: string; token: string }> {
  const id = await createAccount(server, { role: 'admin', login: 'admin.fictional', password: PASSWORD });
  return { id, token: (await login(server, 'admin.fictional', PASSWORD)).accessToken };
}

describe('admin account routes', () => {
  it('create with sealed identity, read it back (admins only), audit every change', async () => {
    ts = await startServer();
    const admin = await asAdmin(ts);
    const identity = { name: 'Fictional Patient', dateOfBirth: '1985-12-24', nhsNumber: '999 000 0002' };
    const created = await api(ts.httpUrl, 'POST', '/admin/users', {
      token: admin.token,
      body: { role: 'patient', login: 'new.patient', password: 'twelve chars ok', identity },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ role: 'patient', status: 'active', login: 'new.patient', disabledAt: null });
    expect(created.body).not.toHaveProperty('passwordHash');
    const id = created.body['id'] as string;
    const got = await api(ts.httpUrl, 'GET', `/admin/users/${id}`, { token: admin.token });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, identity, identityErased: false });

    const patient = await login(ts, 'new.patient', 'twelve chars ok');
    expect((await api(ts.httpUrl, 'GET', '/me', { token: patient.accessToken })).body).toMatchObject({ identity });
    // Other roles may not use the admin routes.
    for (const [method, p] of [
      ['GET', `/admin/users/${id}`],
      ['POST', `/admin/users/${admin.id}/disable`],
    ] as const) {
      const res = await api(ts.httpUrl, method, p, { token: patient.accessToken });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: 'FORBIDDEN' });
    }
    expect((await api(ts.httpUrl, 'GET', `/admin/users/${id}`)).status).toBe(401);

    const external = await api(ts.httpUrl, 'POST', '/admin/users', {
      token: admin.token,
      body: { role: 'therapist', externalSubject: 'idp|fictional-77' },
    });
    expect(external.body).toMatchObject({ login: null, externalSubject: 'idp|fictional-77' });
    const disabled = await api(ts.httpUrl, 'POST', `/admin/users/${id}/disable`, { token: admin.token });
    expect(disabled.body).toMatchObject({ status: 'disabled' });
    await api(ts.httpUrl, 'POST', `/admin/users/${id}/enable`, { token: admin.token });

    await ts.server.audit.flush();
    const events = await ts.server.store.kysely
      .selectFrom('audit_events')
      .select(['actor_id', 'action', 'reason', 'resource_id'])
      .where('action', '=', 'admin.change')
      .orderBy('seq')
      .execute();
    expect(events.map((e) => [e.actor_id, e.reason, e.resource_id])).toEqual([
      [admin.id, 'user-created', id],
      [admin.id, 'user-created', external.body['id']],
      [admin.id, 'user-disabled', id],
      [admin.id, 'user-enabled', id],
    ]);
    // Reading identity fields is recorded too: the admin's look at the account, and the patient's own.
    const reads = await ts.server.store.kysely
      .selectFrom('audit_events')
      .select(['actor_id', 'reason', 'resource_id'])
      .where('action', '=', 'identity.read')
      .orderBy('seq')
      .execute();
    expect(reads.map((e) => [e.actor_id, e.reason, e.resource_id])).toEqual([
      [admin.id, 'admin-account-view', id],
      [id, 'own-account', id],
    ]);
  });

  it('refuses bad input with clear codes and never crashes', async () => {
    ts = await startServer();
    const admin = await asAdmin(ts);
    const post = (body: unknown) => api(ts!.httpUrl, 'POST', '/admin/users', { token: admin.token, body });
    const cases: [unknown, number, string][] = [
      [{ role: 'patient', login: 'short.pw', password: 'eleven char' }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient', login: 'mail@example.invalid', password: PASSWORD }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient', login: 'no.password' }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient' }, 400, 'VALIDATION_FAILED'],
      [{ role: 'owner', login: 'x.y.z', password: PASSWORD }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient', login: 'x.y.z', password: PASSWORD, extra: 1 }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient', externalSubject: 'a', identity: { dateOfBirth: '1985-13-01' } }, 400, 'VALIDATION_FAILED'],
      [{ role: 'patient', externalSubject: 'a', identity: { religion: 'none' } }, 400, 'VALIDATION_FAILED'],
      [{ role: 'admin', login: 'Admin.Fictional', password: PASSWORD }, 409, 'CONFLICT'],
    ];
    for (const [body, status, error] of cases) {
      const res = await post(body);
      expect({ body, status: res.status, error: res.body['error'] }).toEqual({ body, status, error });
    }
    expect((await api(ts.httpUrl, 'GET', '/admin/users/u_nobody', { token: admin.token })).status).toBe(404);
    expect((await api(ts.httpUrl, 'POST', '/admin/users/u_nobody/disable', { token: admin.token })).status).toBe(404);
    expect((await api(ts.httpUrl, 'GET', '/admin/users/not%20an%20id', { token: admin.token })).status).toBe(400);
    const self = await api(ts.httpUrl, 'POST', `/admin/users/${admin.id}/disable`, { token: admin.token });
    expect(self.status).toBe(409);
    expect((await fetch(`${ts.httpUrl}/readyz`)).status).toBe(200);
  });

  it('publishes every account route in the OpenAPI document, with bearer security and tags', async () => {
    ts = await startServer();
    const doc = (await (await fetch(`${ts.httpUrl}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown; tags?: string[] }>>;
    };
    for (const [p, method, secured] of [
      ['/v1/auth/login', 'post', false],
      ['/v1/auth/refresh', 'post', false],
      ['/v1/auth/logout', 'post', true],
      ['/v1/me', 'get', true],
      ['/v1/admin/users', 'post', true],
      ['/v1/admin/users/{id}', 'get', true],
      ['/v1/admin/users/{id}/disable', 'post', true],
      ['/v1/admin/users/{id}/enable', 'post', true],
    ] as const) {
      const op = doc.paths[p]?.[method];
      expect(op, `${method} ${p}`).toBeDefined();
      expect(op!.tags?.length).toBeGreaterThan(0);
      expect(op!.security !== undefined).toBe(secured);
    }
  });
});

function runCli(dataDir: string, args: string[], env: Record<string, string>, stdin?: string) {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/dist/cli/admin-create.js'), ...args], {
    env: { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'silent', ADMIN_PASSWORD: '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(stdin ?? '');
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out, err })),
  );
}

describe('npm run admin:create', () => {
  it('creates the first admin from ADMIN_PASSWORD or standard input, who can then log in', async () => {
    const dataDir = tempDataDir();
    const first = await runCli(dataDir, ['--login', 'first.admin'], { ADMIN_PASSWORD: PASSWORD });
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out.trim()).toMatch(/^u_[A-Za-z0-9_-]{22}$/);
    const second = await runCli(dataDir, ['--login', 'second.admin'], {}, `${PASSWORD}\n`);
    expect(second.code).toBe(0);
    expect(second.out).not.toContain(PASSWORD);
    expect(await runCli(dataDir, ['--login', 'first.admin'], { ADMIN_PASSWORD: PASSWORD })).toMatchObject({ code: 65 });
    expect(await runCli(dataDir, ['--login', 'weak.admin'], { ADMIN_PASSWORD: 'short' })).toMatchObject({ code: 64 });
    expect(await runCli(dataDir, [], { ADMIN_PASSWORD: PASSWORD })).toMatchObject({ code: 64 });

    ts = await startServer({}, {}, dataDir);
    const tokens = await login(ts, 'first.admin', PASSWORD);
    expect(tokens.user).toEqual({ id: first.out.trim(), role: 'admin' });
    expect((await login(ts, 'second.admin', PASSWORD)).user.id).toBe(second.out.trim());
  });
});
