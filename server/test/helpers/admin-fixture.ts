/**
 * A real server for the admin API tests, on SQLite or on PostgreSQL (a fresh schema), with a fake clock, an in-memory
 * audit sink to read back, and helpers to create people (with a sealed date of birth) and call the API.
 */
import type { Role } from '@therapy-chat/protocol';
import { writeIdentity } from '../../src/accounts/identity.js';
import type { AuditEvent } from '../../src/audit/audit-sink.js';
import { MemoryAuditSink } from '../../src/audit/memory-audit-sink.js';
import { FileKeyProvider } from '../../src/crypto/file-key-provider.js';
import { createUser } from '../../src/domain/care-setup.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { mintToken, startServer, tempDataDir, type TestServer } from './harness.js';
import { freshPostgresSchema } from './services.js';

export type StoreKind = 'sqlite' | 'postgres';

export interface ApiAnswer {
  readonly status: number;
  readonly text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads whatever JSON came back
  readonly body: any;
}

export interface AdminFixture {
  readonly ts: TestServer;
  readonly audit: MemoryAuditSink;
  readonly adminId: string;
  readonly adminToken: string;
  /** Every answer to a call made with an admin token, for scanning. */
  readonly adminAnswers: { readonly path: string; readonly text: string }[];
  /** The fake clock: what the server believes the time is. */
  now: number;
  api(method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<ApiAnswer>;
  /** Creates an active user of `role`; with a date of birth (`YYYY-MM-DD`) sealed in their identity. */
  person(role: Role, dateOfBirth?: string): Promise<string>;
  token(userId: string, role: Role): Promise<string>;
  auditEvents(): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

export async function startAdminFixture(kind: StoreKind, env: Record<string, string> = {}): Promise<AdminFixture> {
  const dataDir = tempDataDir();
  const audit = new MemoryAuditSink();
  let pg: Awaited<ReturnType<typeof freshPostgresSchema>> | undefined;
  let store: PostgresStore | undefined;
  if (kind === 'postgres') {
    pg = await freshPostgresSchema();
    store = new PostgresStore({ connectionString: pg.url, schema: pg.schema, poolSize: 3 });
  }
  const fx: AdminFixture = {
    now: Date.now(),
    audit,
    adminAnswers: [],
  } as unknown as AdminFixture;
  const ts = await startServer(env, { now: () => fx.now, auditSink: audit, ...(store && { store }) }, dataDir);
  const provider = FileKeyProvider.openOrCreate(dataDir);
  const adminId = await createUser(ts.server.store, 'admin');
  const adminToken = await mintToken(dataDir, adminId, 'admin', { ttlSeconds: 24 * 3600 });
  const adminTokens = new Set([adminToken]);
  Object.assign(fx, {
    ts,
    adminId,
    adminToken,
    async api(method: 'GET' | 'POST', path: string, token: string | undefined, body?: unknown): Promise<ApiAnswer> {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${ts.httpUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (token && adminTokens.has(token)) fx.adminAnswers.push({ path, text });
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, text, body: parsed };
    },
    async person(role: Role, dateOfBirth?: string): Promise<string> {
      const id = await createUser(ts.server.store, role);
      if (dateOfBirth !== undefined) {
        await writeIdentity({ db: ts.server.store.kysely, provider }, id, { name: 'Test Person', dateOfBirth });
      }
      return id;
    },
    async token(userId: string, role: Role): Promise<string> {
      const t = await mintToken(dataDir, userId, role, { ttlSeconds: 24 * 3600 });
      if (role === 'admin') adminTokens.add(t);
      return t;
    },
    async auditEvents(): Promise<AuditEvent[]> {
      await ts.server.audit.flush();
      return audit.read(1, 1_000_000);
    },
    async stop(): Promise<void> {
      await ts.stop();
      await pg?.drop();
    },
  });
  return fx;
}

/** The `YYYY-MM-DD` date `years` before the UTC day of `now`, shifted by `days` (a birthday `days` from today). */
export function birthDate(now: number, years: number, days = 0): string {
  const d = new Date(now);
  const shifted = new Date(Date.UTC(d.getUTCFullYear() - years, d.getUTCMonth(), d.getUTCDate() + days));
  return shifted.toISOString().slice(0, 10);
}
