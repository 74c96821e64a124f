import { afterAll, describe, expect, it } from 'vitest';
import { freshPostgresSchema, postgres } from '../../test/helpers/services.js';
import { PostgresStore, isTransientPgError } from './postgres-store.js';
import { describeStoreContract } from './store.contract.js';
import { StoreUnavailableError } from './store.js';

const pg = await postgres();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

describe.skipIf(!pg.available)('PostgresStore', () => {
  describeStoreContract('PostgreSQL', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    drops.push(drop);
    const store = new PostgresStore({ connectionString: url, schema, poolSize: 3 });
    await store.migrate();
    return store;
  });

  it('migrates concurrently from several nodes without harm', async () => {
    const { url, schema, drop } = await freshPostgresSchema();
    drops.push(drop);
    const stores = [1, 2, 3].map(() => new PostgresStore({ connectionString: url, schema, poolSize: 2 }));
    await Promise.all(stores.map((s) => s.migrate()));
    await Promise.all(stores.map((s) => s.close()));
  });

  it('answers unavailable, quickly, when the server cannot be reached', async () => {
    const store = new PostgresStore({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectTimeoutMs: 500,
    });
    const started = Date.now();
    await expect(store.getConversation('cv_x')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(Date.now() - started).toBeLessThan(2000);
    await store.close();
  });
});

describe('isTransientPgError', () => {
  it('tells connection and contention errors from bugs', () => {
    expect(isTransientPgError({ code: 'ECONNREFUSED' })).toBe(true);
    expect(isTransientPgError({ code: '57P01' })).toBe(true);
    expect(isTransientPgError({ code: '40P01' })).toBe(true);
    expect(isTransientPgError({ code: '08006' })).toBe(true);
    expect(isTransientPgError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientPgError({ code: '23505' })).toBe(false);
    expect(isTransientPgError({ code: '42P01' })).toBe(false);
    expect(isTransientPgError(null)).toBe(false);
  });
});
