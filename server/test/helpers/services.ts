/**
 * The external services some suites need (PostgreSQL, Redis). Locally a suite whose service is missing is skipped
 * and says why; under CI=true a missing service fails the run, because CI must prove those suites.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL = process.env.DATABASE_URL_TEST ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ServiceCheck {
  readonly available: boolean;
  readonly reason: string;
}

async function check(name: string, url: string, port: number): Promise<ServiceCheck> {
  const available = await reachable(url, port);
  const reason = available ? '' : `${name} is not reachable at ${url} (set ${name === 'PostgreSQL' ? 'DATABASE_URL_TEST' : 'REDIS_URL_TEST'} or start it; .ci/run does)`;
  if (!available) {
    if (process.env.CI === 'true') throw new Error(`CI=true and ${reason}`);
    console.warn(`skipping ${name} suites: ${reason}`);
  }
  return { available, reason };
}

export const postgres = (): Promise<ServiceCheck> => check('PostgreSQL', POSTGRES_URL, 5432);
export const redis = (): Promise<ServiceCheck> => check('Redis', REDIS_URL, 6379);

/** A fresh, empty schema in the test database, to pass as `schema` to the store. */
export async function freshPostgresSchema(): Promise<{ url: string; schema: string; drop: () => Promise<void> }> {
  const schema = `tc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return {
    url: POSTGRES_URL,
    schema,
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}
