/**
 * Retention as it runs for real: the server's own timer on a fake clock, and `npm run retention` (the built CLI)
 * against a data directory. What a user notices: the shredded case's conversations can no longer be joined or read,
 * while a neighbouring case is fully readable.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorFrame, JoinedFrame } from '@therapy-chat/protocol';
import { DataKeyRing } from '../src/crypto/data-keys.js';
import { FileKeyProvider } from '../src/crypto/file-key-provider.js';
import { createUser } from '../src/domain/care-setup.js';
import { yearsBefore } from '../src/retention/retention.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { REPO_ROOT, seedSession, startServer, tempDataDir, type Session, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';
import { api, createAccount, login } from './helpers/accounts.js';

const SECOND = 1000;
let ts: TestServer | undefined;
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await ts?.stop();
  ts = undefined;
});

async function connect(url: string, token: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  clients.push(c);
  expect((await c.auth(token)).type).toBe('welcome');
  return c;
}

/** Ends the session's appointment and discharges its case at `at`. */
async function discharge(store: Store, s: Session, at: number): Promise<void> {
  await store.setAppointmentStatus(s.appointmentId, 'ended', at);
  await store.kysely
    .updateTable('cases')
    .set({ status: 'discharged', discharged_at: at })
    .where('id', '=', s.caseId)
    .execute();
}

describe('the retention timer in the server', () => {
  it('shreds a case 20 years + 1 s after discharge: its transcript can no longer be joined; the neighbour reads on', async () => {
    const now = Date.now();
    ts = await startServer({ RETENTION_INTERVAL_MS: '100' }, { now: () => now });
    const due = await ts.seed();
    const young = await ts.seed();
    for (const s of [due, young]) {
      const patient = await connect(ts.url, s.patientToken);
      await patient.join(s.conv);
      expect((await patient.sendText(s.conv, 'A fictional sentence.')).type).toBe('ack');
      await patient.close();
    }
    const cutoff = yearsBefore(now, 20);
    await discharge(ts.server.store, due, cutoff - SECOND);
    await discharge(ts.server.store, young, cutoff + SECOND);

    const deadline = Date.now() + 5000;
    const shreddedAt = async (caseId: string) =>
      (
        await ts!.server.store.kysely
          .selectFrom('cases')
          .select('shredded_at')
          .where('id', '=', caseId)
          .executeTakeFirst()
      )?.shredded_at ?? null;
    while ((await shreddedAt(due.caseId)) === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await shreddedAt(due.caseId)).toBe(now);
    expect(await shreddedAt(young.caseId)).toBeNull();

    const patient = await connect(ts.url, due.patientToken);
    const refused = (await patient.join(due.conv, 0)) as ErrorFrame;
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN', conv: due.conv });
    expect(patient.messages(due.conv)).toEqual([]);
    await ts.server.audit.flush();
    const refusal = await ts.server.store.kysely
      .selectFrom('audit_events')
      .select('reason')
      .where('action', '=', 'conversation.join.refused')
      .where('resource_id', '=', due.conv)
      .executeTakeFirst();
    expect(refusal).toEqual({ reason: 'retention-ended' });

    const neighbour = await connect(ts.url, young.patientToken);
    expect(((await neighbour.join(young.conv, 0)) as JoinedFrame).lastSeq).toBe(1);
    expect((await neighbour.waitForSeq(young.conv, 1)).text).toBe('A fictional sentence.');

    const logged = ts.logs.lines.map((l) => JSON.parse(l) as { msg: string; cases?: number; accounts?: number });
    expect(logged.find((l) => l.msg === 'retention: records destroyed')).toMatchObject({ cases: 1, accounts: 0 });
    // Counts only: no case reference or user id of what was destroyed is logged by retention.
    for (const line of ts.logs.lines.filter((l) => l.includes('"module":"retention"'))) {
      expect(line).not.toContain(due.caseId);
      expect(line).not.toContain(due.patientId);
    }
  });

  it('removes an account that never became a case 6 years + 1 s after creation: it can no longer log in', async () => {
    const now = Date.now();
    ts = await startServer({ RETENTION_INTERVAL_MS: '100' }, { now: () => now });
    const password = 'a fictional passphrase';
    const gone = await createAccount(ts, { role: 'patient', login: 'never.a.case', password });
    const kept = await createAccount(ts, { role: 'patient', login: 'recent.signup', password });
    // Before retention runs, both log in; the old account's token is what a stale app would still hold.
    const stale = await login(ts, 'never.a.case', password);
    await login(ts, 'recent.signup', password);
    const created = async (id: string, at: number) =>
      ts!.server.store.kysely.updateTable('users').set({ created_at: at }).where('id', '=', id).execute();
    await created(gone, yearsBefore(now, 6) - SECOND);
    await created(kept, yearsBefore(now, 6) + SECOND);

    const status = async (id: string) =>
      (await ts!.server.store.kysely.selectFrom('users').select('status').where('id', '=', id).executeTakeFirst())
        ?.status;
    const deadline = Date.now() + 5000;
    while ((await status(gone)) === 'active' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await status(gone)).toBe('removed');
    expect(await status(kept)).toBe('active');

    const refused = await api(ts.httpUrl, 'POST', '/auth/login', { body: { login: 'never.a.case', password } });
    expect(refused).toMatchObject({ status: 401, body: { error: 'INVALID_CREDENTIALS' } });
    expect(await api(ts.httpUrl, 'GET', '/me', { token: stale.accessToken })).toMatchObject({
      status: 403,
      body: { error: 'ACCOUNT_DISABLED' },
    });
    expect(
      (await api(ts.httpUrl, 'POST', '/auth/refresh', { body: { refreshToken: stale.refreshToken } })).status,
    ).toBe(401);
    expect((await login(ts, 'recent.signup', password)).user.id).toBe(kept);
  });

  it('does not run when RETENTION_INTERVAL_MS is 0', async () => {
    const now = Date.now();
    ts = await startServer({ RETENTION_INTERVAL_MS: '0' }, { now: () => now });
    const s = await ts.seed();
    await discharge(ts.server.store, s, yearsBefore(now, 20) - SECOND);
    await new Promise((r) => setTimeout(r, 300));
    const row = await ts.server.store.kysely
      .selectFrom('cases')
      .select('shredded_at')
      .where('id', '=', s.caseId)
      .executeTakeFirst();
    expect(row?.shredded_at).toBeNull();
    expect(await ts.server.store.dataKeysForCase(s.caseId)).toHaveLength(1);
  });
});

describe('npm run retention (the built CLI)', () => {
  function cli(dataDir: string, ...args: string[]) {
    const entry = path.join(REPO_ROOT, 'server/dist/cli/retention.js');
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    const r = spawnSync(process.execPath, [entry, ...args], {
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it('dry run counts and changes nothing; the run shreds and prints counts only; a second run finds nothing', async () => {
    const dataDir = tempDataDir();
    const store = new SqliteStore({ dataDir });
    await store.migrate();
    const keys = new DataKeyRing(store, FileKeyProvider.openOrCreate(dataDir));
    const now = Date.now();
    const due = await seedSession(dataDir, store, keys);
    const kept = await seedSession(dataDir, store, keys);
    // A day of margin either side: the CLI reads the real clock.
    await discharge(store, due, yearsBefore(now, 20) - 86_400_000);
    await discharge(store, kept, yearsBefore(now, 20) + 86_400_000);
    const applicant = await createUser(store, 'patient');
    await store.kysely
      .updateTable('users')
      .set({ created_at: yearsBefore(now, 6) - 86_400_000 })
      .where('id', '=', applicant)
      .execute();
    await store.close();

    const dry = cli(dataDir, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/nothing changed/);
    expect(dry.out).toMatch(/cases due to be shredded \(discharged more than 20 years ago\): 1\n/);
    expect(dry.out).toMatch(/accounts due to be removed .*: 1\n/);

    const check = new SqliteStore({ dataDir });
    expect(await check.dataKeysForCase(due.caseId)).toHaveLength(1);

    const run = cli(dataDir);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/cases shredded \(discharged more than 20 years ago\): 1\n/);
    expect(run.out).toMatch(/accounts removed \(no case, created more than 6 years ago\): 1\n/);
    for (const id of [due.caseId, due.patientId, kept.caseId, applicant]) expect(run.out + run.err).not.toContain(id);
    expect(await check.dataKeysForCase(due.caseId)).toEqual([]);
    expect(await check.dataKeysForCase(kept.caseId)).toHaveLength(1);
    const events = await check.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'retention.shred')
      .execute();
    expect(events.map((e) => [e.resource_id, e.reason, e.actor_role])).toEqual([
      [due.caseId, 'retention-20y-after-discharge', 'system'],
      [applicant, 'retention-6y-no-case', 'system'],
    ]);
    expect(
      await check.kysely.selectFrom('users').select('status').where('id', '=', applicant).executeTakeFirst(),
    ).toEqual({
      status: 'removed',
    });
    await check.close();

    const again = cli(dataDir).out;
    expect(again).toMatch(/cases shredded .*: 0\n/);
    expect(again).toMatch(/accounts removed .*: 0\n/);
  });

  it('answers bad arguments with usage (64) and a missing database with 78, changing nothing', () => {
    const dataDir = tempDataDir();
    const bad = cli(dataDir, '--batch-size', 'lots');
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/usage: npm run retention/);
    expect(cli(dataDir, '--frobnicate').code).toBe(64);
    const none = cli(dataDir);
    expect(none.code).toBe(78);
    expect(none.err).toMatch(/no database in DATA_DIR/);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });
});
