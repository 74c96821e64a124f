/** A throwaway PostgreSQL database for nodes the tool starts itself (`cluster --start-nodes`), dropped afterwards. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

export async function createTempDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tc_loadtest_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
