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
  const reason = available
    ? ''
    : `${name} is not reachable at ${url} (set ${name === 'PostgreSQL' ? 'DATABASE_URL_TEST' : 'REDIS_URL_TEST'} or start it; .ci/run does)`;
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

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Kills the server (SIGKILL) and waits until the port is closed. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: it keeps nothing on disk). */
  start(): Promise<void>;
}

/** A redis-server of the test's own on a free port, to stop and restart without disturbing anyone else. */
export async function privateRedis(): Promise<PrivateRedis> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: import('node:child_process').ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await waitFor(() => reachable(url, port), 5000, `redis-server on ${port}`);
  };
  const kill = async () => {
    const c = child;
    if (!c) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    child = undefined;
  };
  await start();
  process.once('exit', () => child?.kill('SIGKILL'));
  return { url, port, kill, start };
}

/** A fresh database of the test's own on the test PostgreSQL server, for nodes running as separate processes. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tc_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
