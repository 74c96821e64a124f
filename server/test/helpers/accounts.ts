/** HTTP helpers for the account and login tests: calls to `/v1`, and accounts created straight in the store. */
import type { Role } from '@therapy-chat/protocol';
import { Accounts, type NewAccount } from '../../src/accounts/accounts.js';
import { FileKeyProvider } from '../../src/crypto/file-key-provider.js';
import { sharedPasswordHasher } from '../../src/auth/password-hasher.js';
import type { TestServer } from './harness.js';

export interface ApiAnswer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export async function api<T = Record<string, unknown>>(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { token?: string; body?: unknown; ip?: string } = {},
): Promise<ApiAnswer<T>> {
  const res = await fetch(`${baseUrl}/v1${path}`, {
    method,
    headers: {
      ...(opts.body !== undefined && { 'content-type': 'application/json' }),
      ...(opts.token && { authorization: `Bearer ${opts.token}` }),
      'user-agent': 'tc-test',
    },
    ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  refreshExpiresAt: number;
  user: { id: string; role: Role };
}

/** The accounts service of a running test server. */
export function accountsOf(ts: TestServer): Accounts {
  return new Accounts({
    db: ts.server.store.kysely,
    provider: FileKeyProvider.openOrCreate(ts.dataDir),
    hasher: sharedPasswordHasher(),
    revoked: (id, reason) => ts.server.chat.userRevoked(id, reason),
  });
}

export async function createAccount(ts: TestServer, account: NewAccount): Promise<string> {
  return (await accountsOf(ts).create(account)).id;
}

export async function login(ts: TestServer, name: string, password: string): Promise<Tokens> {
  const res = await api<Tokens>(ts.httpUrl, 'POST', '/auth/login', { body: { login: name, password } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
