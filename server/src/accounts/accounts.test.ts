/**
 * The account queries, identity sealing and login sessions on both stores: SQLite always, PostgreSQL when it is
 * reachable (required under CI).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgres } from '../../test/helpers/services.js';
import { tempDataDir } from '../../test/helpers/harness.js';
import { AuthSessions } from '../auth/auth-sessions.js';
import { PasswordHasher } from '../auth/password-hasher.js';
import { checkPassword } from '../auth/passwords.js';
import { principalState } from '../auth/principal-state.js';
import { FileKeyProvider } from '../crypto/file-key-provider.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { AccountError, Accounts } from './accounts.js';
import { eraseIdentity, readIdentity } from './identity.js';

const pg = await postgres();
const hasher = new PasswordHasher({ workers: 1 });
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  await hasher.close();
});

const PASSWORD = 'a fictional passphrase';

function suite(name: string, open: () => Promise<Store>) {
  describe(`accounts on ${name}`, () => {
    async function setup() {
      const store = await open();
      cleanups.push(() => store.close());
      const provider = FileKeyProvider.openOrCreate(tempDataDir());
      const revoked: string[] = [];
      let now = 1_800_000_000_000;
      const accounts = new Accounts({
        db: store.kysely,
        provider,
        hasher,
        revoked: (id, reason) => revoked.push(`${id}:${reason}`),
        now: () => now,
      });
      return { store, provider, accounts, revoked, tick: (ms: number) => (now += ms), now: () => now };
    }

    it('creates local and external accounts, finds them by login (any case) and by subject', async () => {
      const { accounts } = await setup();
      const a = await accounts.create({ role: 'therapist', login: 'Ther.Fictional', password: PASSWORD });
      expect(a).toMatchObject({ role: 'therapist', status: 'active', login: 'ther.fictional', externalSubject: null });
      const found = await accounts.byLogin('THER.FICTIONAL');
      expect(found?.account.id).toBe(a.id);
      expect(found?.passwordHash).toMatch(/^\$argon2id\$/);
      expect(await checkPassword(hasher, PASSWORD, found!.passwordHash)).toBe(true);
      expect(await checkPassword(hasher, `${PASSWORD}!`, found!.passwordHash)).toBe(false);
      const b = await accounts.create({ role: 'patient', externalSubject: 'idp|fictional-1' });
      expect((await accounts.byExternalSubject('idp|fictional-1'))?.id).toBe(b.id);
      expect(await accounts.byLogin('nobody')).toBeUndefined();
      expect(await accounts.get('u_missing')).toBeUndefined();
    });

    it('refuses bad input with stable codes', async () => {
      const { accounts } = await setup();
      await accounts.create({ role: 'admin', login: 'taken.name', password: PASSWORD });
      const cases: [Parameters<Accounts['create']>[0], string][] = [
        [{ role: 'admin', login: 'taken.name', password: PASSWORD }, 'LOGIN_TAKEN'],
        [{ role: 'admin', login: 'TAKEN.NAME', password: PASSWORD }, 'LOGIN_TAKEN'],
        [{ role: 'admin', login: 'someone@example.invalid', password: PASSWORD }, 'INVALID_LOGIN'],
        [{ role: 'admin', login: 'ab', password: PASSWORD }, 'INVALID_LOGIN'],
        [{ role: 'admin', login: 'short.pw', password: 'elevenchars' }, 'INVALID_PASSWORD'],
        [{ role: 'admin', login: 'long.pw', password: 'x'.repeat(257) }, 'INVALID_PASSWORD'],
        [{ role: 'admin', login: 'no.pw' }, 'INVALID_ACCOUNT'],
        [{ role: 'admin' }, 'INVALID_ACCOUNT'],
        [{ role: 'root' as 'admin', login: 'bad.role', password: PASSWORD }, 'INVALID_ACCOUNT'],
      ];
      for (const [input, code] of cases) {
        await expect(accounts.create(input)).rejects.toMatchObject({ name: 'AccountError', code });
      }
      // 12 characters, counted in code points (emoji and accents are one each).
      await expect(
        accounts.create({ role: 'admin', login: 'twelve.pw', password: 'ééééééééééé😀' }),
      ).resolves.toBeTruthy();
      await expect(accounts.disable('u_missing')).rejects.toBeInstanceOf(AccountError);
    });

    it('seals identity under a per-user key, and erasure destroys it while the account stays', async () => {
      const { store, provider, accounts } = await setup();
      const identity = { name: 'Fictional Person', dateOfBirth: '2001-02-03', email: 'fp@example.invalid' };
      const a = await accounts.create({ role: 'patient', login: 'pat.sealed', password: PASSWORD, identity });
      const deps = { db: store.kysely, provider };
      expect(await readIdentity(deps, a.id)).toEqual(identity);
      const row = await store.kysely
        .selectFrom('users')
        .select('identity_ct')
        .where('id', '=', a.id)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(row.identity_ct!).includes(Buffer.from('Fictional'))).toBe(false);
      // Bound to its user: moved to another row, it does not open.
      const b = await accounts.create({
        role: 'patient',
        login: 'pat.other',
        password: PASSWORD,
        identity: { name: 'B' },
      });
      await store.kysely.updateTable('users').set({ identity_ct: row.identity_ct }).where('id', '=', b.id).execute();
      await expect(readIdentity(deps, b.id)).rejects.toThrow();
      await eraseIdentity(store.kysely, a.id, 1);
      expect(await readIdentity(deps, a.id)).toBe('erased');
      expect((await accounts.get(a.id))?.identityErased).toBe(true);
      expect(await store.kysely.selectFrom('user_keys').select('id').where('user_id', '=', a.id).execute()).toEqual([]);
    });

    it('disable ends every session and calls for the sockets to close; enable lets the user log in again', async () => {
      const { store, accounts, revoked, now } = await setup();
      const a = await accounts.create({ role: 'patient', login: 'pat.disable', password: PASSWORD });
      const sessions = new AuthSessions(store.kysely);
      const s1 = await sessions.create(a.id, now(), 3_600_000, { ip: '127.0.0.1', device: 'test' });
      const s2 = await sessions.create(a.id, now(), 3_600_000, { ip: null, device: null });
      const principal = { userId: a.id, role: 'patient' as const, expiresAt: now() + 1000, sessionId: s1.sessionId };
      expect(await principalState(store.kysely, principal, now())).toBe('active');
      const d = await accounts.disable(a.id);
      expect(d).toMatchObject({ status: 'disabled', disabledAt: now() });
      expect(revoked).toEqual([`${a.id}:disabled`]);
      expect(await sessions.isLive(s1.sessionId, a.id, now())).toBe(false);
      expect(await sessions.isLive(s2.sessionId, a.id, now())).toBe(false);
      expect(await principalState(store.kysely, principal, now())).toBe('disabled');
      expect((await sessions.rotate(s2.refreshToken, now())).kind).toBe('invalid');
      const e = await accounts.enable(a.id);
      expect(e).toMatchObject({ status: 'active', disabledAt: null });
      expect(await principalState(store.kysely, principal, now())).toBe('session-ended');
    });

    it('rotates refresh tokens, detects reuse, and honours the absolute lifetime', async () => {
      const { store, accounts, now, tick } = await setup();
      const a = await accounts.create({ role: 'patient', login: 'pat.rotate', password: PASSWORD });
      const sessions = new AuthSessions(store.kysely);
      const s = await sessions.create(a.id, now(), 60_000, { ip: null, device: null });
      const row = await store.kysely
        .selectFrom('auth_sessions')
        .selectAll()
        .where('id', '=', s.sessionId)
        .executeTakeFirstOrThrow();
      expect(row.refresh_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row.refresh_hash).not.toContain(s.refreshToken.split('.')[1]);
      const r1 = await sessions.rotate(s.refreshToken, now());
      expect(r1).toMatchObject({ kind: 'rotated', sessionId: s.sessionId, userId: a.id, expiresAt: s.expiresAt });
      if (r1.kind !== 'rotated') throw new Error('not rotated');
      // Racing refreshes with the same token: one wins, the other counts as reuse and ends the session.
      const [x, y] = await Promise.all([
        sessions.rotate(r1.refreshToken, now()),
        sessions.rotate(r1.refreshToken, now()),
      ]);
      expect([x.kind, y.kind].sort()).toEqual(['reused', 'rotated']);
      expect(await sessions.isLive(s.sessionId, a.id, now())).toBe(false);

      const t = await sessions.create(a.id, now(), 60_000, { ip: null, device: null });
      expect(await sessions.isLive(t.sessionId, a.id, now())).toBe(true);
      expect(await sessions.isLive(t.sessionId, 'u_someone_else', now())).toBe(false);
      tick(60_000);
      expect(await sessions.isLive(t.sessionId, a.id, now())).toBe(false);
      expect((await sessions.rotate(t.refreshToken, now())).kind).toBe('invalid');
      expect((await sessions.rotate('as_x.y', now())).kind).toBe('invalid');
    });
  });
}

suite('SQLite', async () => {
  const store = new SqliteStore({ dataDir: tempDataDir() });
  await store.migrate();
  return store;
});

describe.skipIf(!pg.available)('PostgreSQL', () => {
  suite('PostgreSQL', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    cleanups.push(drop);
    const store = new PostgresStore({ connectionString: url, schema, poolSize: 3 });
    await store.migrate();
    return store;
  });
});
