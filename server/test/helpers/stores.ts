/** The two stores a store-level test runs against, each in a fresh place of its own. */
import { PostgresStore } from '../../src/store/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { tempDataDir } from './harness.js';
import { freshPostgresSchema, type ServiceCheck } from './services.js';

export type StoreFactory = () => Promise<Store>;

/**
 * `[name, factory, can run here]` for SQLite (a fresh data directory) and PostgreSQL (a fresh schema, whose drop is
 * pushed onto `drops` for the caller's `afterAll`). Neither is migrated yet.
 */
export function storeFactories(pg: ServiceCheck, drops: (() => Promise<void>)[]): [string, StoreFactory, boolean][] {
  return [
    ['SQLite', async () => new SqliteStore({ dataDir: tempDataDir() }), true],
    [
      'PostgreSQL',
      async () => {
        const { url, schema, drop } = await freshPostgresSchema();
        drops.push(drop);
        return new PostgresStore({ connectionString: url, schema, poolSize: 4 });
      },
      pg.available,
    ],
  ];
}
