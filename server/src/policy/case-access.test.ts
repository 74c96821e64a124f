/**
 * `loadCaseAccess` on both stores: the case's own facts, re-referral chains (direct, transitive, branching, a
 * cycle written by hand, a link to another patient's case) and break-glass rows of every kind.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgres } from '../../test/helpers/services.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { decide } from './access-policy.js';
import { loadCaseAccess } from './case-access.js';

const pg = await postgres();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

async function seed(store: Store) {
  for (const [id, role] of [
    ['u_pat', 'patient'],
    ['u_pat2', 'patient'],
    ['u_t1', 'therapist'],
    ['u_t2', 'therapist'],
    ['u_t3', 'therapist'],
    ['u_t4', 'therapist'],
    ['u_t5', 'therapist'],
    ['u_sup', 'supervisor'],
    ['u_adm1', 'admin'],
    ['u_adm2', 'admin'],
  ] as const)
    await store.createUser({ id, role });
  // C-1 (t1, discharged long ago) ← C-2 (t2, discharged recently) ← C-3 (t3, active); C-1 ← C-4 (t4, a branch).
  await store.createCase({
    id: 'C-1',
    patientId: 'u_pat',
    therapistId: 'u_t1',
    threadId: 'cv_1',
    supervisorId: 'u_sup',
  });
  await store.createCase({
    id: 'C-2',
    patientId: 'u_pat',
    therapistId: 'u_t2',
    threadId: 'cv_2',
    previousCaseId: 'C-1',
  });
  await store.createCase({
    id: 'C-3',
    patientId: 'u_pat',
    therapistId: 'u_t3',
    threadId: 'cv_3',
    previousCaseId: 'C-2',
  });
  await store.createCase({
    id: 'C-4',
    patientId: 'u_pat',
    therapistId: 'u_t4',
    threadId: 'cv_4',
    previousCaseId: 'C-1',
  });
  // Another patient's case wrongly pointing at C-1: its therapist gains nothing.
  await store.createCase({
    id: 'C-X',
    patientId: 'u_pat2',
    therapistId: 'u_t5',
    threadId: 'cv_x',
    previousCaseId: 'C-1',
  });
  const db = store.kysely;
  await db
    .updateTable('cases')
    .set({ status: 'discharged', discharged_at: NOW - 400 * DAY })
    .where('id', '=', 'C-1')
    .execute();
  await db
    .updateTable('cases')
    .set({ status: 'discharged', discharged_at: NOW - 10 * DAY, restricted_at: NOW - DAY })
    .where('id', '=', 'C-2')
    .execute();
  await db
    .insertInto('break_glass_grants')
    .values([
      {
        id: 'bg_1',
        case_id: 'C-1',
        admin_id: 'u_adm1',
        reason: 'complaint',
        granted_at: NOW - DAY,
        expires_at: NOW + DAY,
        revoked_at: null,
      },
      {
        id: 'bg_2',
        case_id: 'C-1',
        admin_id: 'u_adm2',
        reason: 'legal',
        granted_at: NOW - 3 * DAY,
        expires_at: NOW - 2 * DAY,
        revoked_at: null,
      },
      {
        id: 'bg_3',
        case_id: 'C-1',
        admin_id: 'u_adm2',
        reason: 'legal',
        granted_at: NOW - DAY,
        expires_at: NOW + DAY,
        revoked_at: NOW - 1000,
      },
      {
        id: 'bg_4',
        case_id: 'C-3',
        admin_id: 'u_adm2',
        reason: 'legal',
        granted_at: NOW - DAY,
        expires_at: NOW + DAY,
        revoked_at: null,
      },
    ])
    .execute();
}

function describeCaseAccess(name: string, open: () => Promise<Store>) {
  describe(`loadCaseAccess on ${name}`, () => {
    let store: Store;
    it('seeds a re-referral chain', async () => {
      store = await open();
      await seed(store);
    });

    it("loads the case's own facts", async () => {
      const c = await loadCaseAccess(store.kysely, 'C-2');
      expect(c).toMatchObject({
        caseId: 'C-2',
        status: 'discharged',
        dischargedAt: NOW - 10 * DAY,
        patientId: 'u_pat',
        therapistId: 'u_t2',
        supervisorId: null,
        restrictedAt: NOW - DAY,
        shreddedAt: null,
      });
      expect(c!.successors).toEqual([{ therapistId: 'u_t3', status: 'active', dischargedAt: null }]);
      expect(await loadCaseAccess(store.kysely, 'C-NONE')).toBeUndefined();
    });

    it('follows re-referrals through the chain and its branches, only for the same patient', async () => {
      const c = await loadCaseAccess(store.kysely, 'C-1');
      const byTherapist = Object.fromEntries(c!.successors.map((s) => [s.therapistId, s]));
      expect(Object.keys(byTherapist).sort()).toEqual(['u_t2', 'u_t3', 'u_t4']);
      expect(byTherapist['u_t2']).toEqual({ therapistId: 'u_t2', status: 'discharged', dischargedAt: NOW - 10 * DAY });
      // The latest case's therapist reads the earliest case; the other patient's therapist does not.
      const read = (userId: string) =>
        decide(
          { userId, role: 'therapist' },
          'conversation.read',
          { case: c!, conversation: { kind: 'thread', appointmentStatus: null } },
          NOW,
        );
      expect(read('u_t3').allow).toBe(true);
      expect(read('u_t2').allow).toBe(true);
      expect(read('u_t5').allow).toBe(false);
      expect(read('u_t1').allow).toBe(false); // their own window ended long ago
      // A later case has no successors of its own; an earlier one is never a successor.
      expect((await loadCaseAccess(store.kysely, 'C-3'))!.successors).toEqual([]);
    });

    it('stops at a cycle written by hand into the data', async () => {
      await store.kysely.updateTable('cases').set({ previous_case_id: 'C-3' }).where('id', '=', 'C-1').execute();
      const c = await loadCaseAccess(store.kysely, 'C-1');
      expect(c!.successors.map((s) => s.therapistId).sort()).toEqual(['u_t2', 'u_t3', 'u_t4']);
      const c3 = await loadCaseAccess(store.kysely, 'C-3');
      // C-3 → C-1 → C-2, C-4 (and C-3 itself is never its own successor).
      expect(c3!.successors.map((s) => s.therapistId).sort()).toEqual(['u_t1', 'u_t2', 'u_t4']);
      await store.kysely.updateTable('cases').set({ previous_case_id: null }).where('id', '=', 'C-1').execute();
    });

    it('loads every break-glass row of the case, and the policy honours only the current own grant', async () => {
      const c = await loadCaseAccess(store.kysely, 'C-1');
      expect(
        [...c!.breakGlass].sort((a, b) => a.expiresAt - b.expiresAt || (a.revokedAt ?? 0) - (b.revokedAt ?? 0)),
      ).toEqual([
        { adminId: 'u_adm2', expiresAt: NOW - 2 * DAY, revokedAt: null },
        { adminId: 'u_adm1', expiresAt: NOW + DAY, revokedAt: null },
        { adminId: 'u_adm2', expiresAt: NOW + DAY, revokedAt: NOW - 1000 },
      ]);
      const bg = (userId: string) => decide({ userId, role: 'admin' }, 'record.break-glass-read', { case: c! }, NOW);
      expect(bg('u_adm1').allow).toBe(true);
      expect(bg('u_adm2').allow).toBe(false); // expired and revoked; its grant on C-3 is for another case
      expect(
        decide({ userId: 'u_adm1', role: 'admin' }, 'record.break-glass-read', { case: c! }, NOW + DAY).allow,
      ).toBe(false);
    });

    it('closes', async () => {
      await store.close();
    });
  });
}

describeCaseAccess('SQLite', async () => {
  const store = new SqliteStore({ dataDir: ':memory:' });
  await store.migrate();
  return store;
});

describe.skipIf(!pg.available)('on PostgreSQL', () => {
  describeCaseAccess('PostgreSQL', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    cleanups.push(drop);
    const store = new PostgresStore({ connectionString: url, schema, poolSize: 2 });
    await store.migrate();
    return store;
  });
});
