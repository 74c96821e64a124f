import { afterAll, describe, expect, it } from 'vitest';
import { createUser, scheduleAppointment } from '../domain/care-setup.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { AppointmentStatus, Store } from '../store/store.js';
import { freshPostgresSchema, postgres } from '../../test/helpers/services.js';
import { laterStatus, transitionAppointment, TRANSITIONS } from './appointment-transitions.js';

const pgReady = (await postgres()).available;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const STATUSES: AppointmentStatus[] = ['scheduled', 'waiting', 'live', 'ended', 'cancelled'];

describe('laterStatus', () => {
  it('only moves forward, and ended and cancelled are both final', () => {
    expect(laterStatus('scheduled', 'waiting')).toBe('waiting');
    expect(laterStatus('live', 'waiting')).toBe('live');
    expect(laterStatus('ended', 'live')).toBe('ended');
    expect(laterStatus('cancelled', 'ended')).toBe('cancelled');
    expect(laterStatus('waiting', 'cancelled')).toBe('cancelled');
  });
});

describe.each([
  ['SQLite', false],
  ['PostgreSQL', !pgReady],
] as const)('transitionAppointment on %s', (name, skip) => {
  async function store(): Promise<Store> {
    if (name === 'SQLite') {
      const s = new SqliteStore({ dataDir: ':memory:' });
      await s.migrate();
      cleanups.push(() => s.close());
      return s;
    }
    const schema = await freshPostgresSchema();
    const s = new PostgresStore({ connectionString: schema.url, schema: schema.schema, poolSize: 4 });
    await s.migrate();
    cleanups.push(schema.drop, () => s.close());
    return s;
  }

  it.skipIf(skip)('makes each allowed move once, says when it already happened, refuses the rest', async () => {
    const s = await store();
    const patientId = await createUser(s, 'patient');
    const therapistId = await createUser(s, 'therapist');
    await s.createCase({ id: 'C-TEST-0001', patientId, therapistId, threadId: 'cv_thread' });
    for (const [transition, { from, to }] of Object.entries(TRANSITIONS)) {
      for (const status of STATUSES) {
        const { conversationId } = await scheduleAppointment(s, 'C-TEST-0001', { status });
        const result = await transitionAppointment(s.kysely, conversationId, transition as never, 1_000);
        const expected = from.includes(status) ? 'changed' : status === to ? 'unchanged' : 'refused';
        expect([transition, status, result.kind]).toEqual([transition, status, expected]);
        if (result.kind !== 'not-found') expect(result.appointment.status).toBe(expected === 'refused' ? status : to);
      }
    }
    expect(await transitionAppointment(s.kysely, 'cv_none', 'admit', 1)).toEqual({ kind: 'not-found' });
  });

  it.skipIf(skip)('two admits at once: exactly one changes it', async () => {
    const s = await store();
    const patientId = await createUser(s, 'patient');
    const therapistId = await createUser(s, 'therapist');
    await s.createCase({ id: 'C-TEST-0002', patientId, therapistId, threadId: 'cv_thread2' });
    const { conversationId } = await scheduleAppointment(s, 'C-TEST-0002', { status: 'waiting' });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => transitionAppointment(s.kysely, conversationId, 'admit', 2_000)),
    );
    expect(results.filter((r) => r.kind === 'changed')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'unchanged')).toHaveLength(7);
  });
});
