/**
 * An external identity provider: its keys served as a JWKS by a real local HTTP server, its tokens verified with
 * pinned algorithms, issuer, audience and expiry, its `sub` mapped to the account's external subject, and the
 * account checks applied on top.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createAccount, login } from './helpers/accounts.js';
import { startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

const ISSUER = 'https://idp.fictional.test';
const AUDIENCE = 'therapy-chat';

type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let idp: http.Server;
let jwksUrl: string;
let signing: Key;
let stranger: Key;
let ts: TestServer;
let patientId: string;
let disabledId: string;
let jwksRequests = 0;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signing = pair.privateKey;
  stranger = (await generateKeyPair('ES256', { extractable: true })).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'idp-key-1', alg: 'ES256', use: 'sig' };
  idp = http.createServer((req, res) => {
    jwksRequests++;
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`;
  ts = await startServer({
    JWKS_URL: jwksUrl,
    TOKEN_ISSUER: ISSUER,
    TOKEN_AUDIENCE: AUDIENCE,
    TOKEN_ROLE_CLAIM: 'app_role',
  });
  patientId = await createAccount(ts, { role: 'patient', externalSubject: 'idp|patient-0001' });
  disabledId = await createAccount(ts, { role: 'therapist', externalSubject: 'idp|therapist-0002' });
  await ts.server.store.kysely.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabledId).execute();
});

afterAll(async () => {
  await ts?.stop();
  await new Promise((r) => idp?.close(r));
});

interface Claims {
  sub?: string;
  role?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  kid?: string;
  key?: Key;
}

function idpToken(c: Claims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ app_role: c.role ?? 'patient' })
    .setProtectedHeader({ alg: 'ES256', kid: c.kid ?? 'idp-key-1', typ: 'JWT' })
    .setSubject(c.sub ?? 'idp|patient-0001')
    .setIssuer(c.iss ?? ISSUER)
    .setAudience(c.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(c.exp ?? now + 300)
    .sign(c.key ?? signing);
}

describe('external identity provider (JWKS)', () => {
  it('accepts its token on HTTP and WebSocket, as the account whose external subject it names', async () => {
    const token = await idpToken();
    const me = await api(ts.httpUrl, 'GET', '/me', { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: patientId, role: 'patient' });
    const c = await TestClient.connect(ts.url);
    expect(await c.auth(token)).toMatchObject({ type: 'welcome', user: patientId, role: 'patient' });
    await c.close();
    expect(jwksRequests).toBeGreaterThan(0);
  });

  const refused: [string, () => Promise<string>, string][] = [
    ['wrong issuer', () => idpToken({ iss: 'https://other-idp.fictional.test' }), 'INVALID_TOKEN'],
    ['wrong audience', () => idpToken({ aud: 'another-service' }), 'INVALID_TOKEN'],
    ['expired', () => idpToken({ exp: Math.floor(Date.now() / 1000) - 60 }), 'TOKEN_EXPIRED'],
    ['unknown kid', () => idpToken({ kid: 'idp-key-unknown', key: stranger }), 'INVALID_TOKEN'],
    ['known kid, wrong key', () => idpToken({ key: stranger }), 'INVALID_TOKEN'],
    ['role mismatch', () => idpToken({ role: 'therapist' }), 'INVALID_TOKEN'],
    ['role not a role', () => idpToken({ role: 'superuser' }), 'INVALID_TOKEN'],
    ['unknown subject', () => idpToken({ sub: 'idp|nobody-9999' }), 'INVALID_TOKEN'],
    ['a user id instead of a subject', () => idpToken({ sub: patientId }), 'INVALID_TOKEN'],
  ];

  for (const [name, make, code] of refused) {
    it(`refuses a token with ${name}`, async () => {
      const token = await make();
      const me = await api(ts.httpUrl, 'GET', '/me', { token });
      expect(me.status).toBe(401);
      expect(me.body).toMatchObject({ error: 'UNAUTHENTICATED' });
      const c = await TestClient.connect(ts.url);
      expect(await c.auth(token)).toMatchObject({ type: 'error', code });
      expect((await c.closed).code).toBe(code === 'TOKEN_EXPIRED' ? 4101 : 4001);
    });
  }

  it('refuses an HMAC token signed with the public key as the secret (algorithm pinned)', async () => {
    const secret = new TextEncoder().encode(JSON.stringify({ kid: 'idp-key-1' }));
    const token = await new SignJWT({ app_role: 'patient' })
      .setProtectedHeader({ alg: 'HS256', kid: 'idp-key-1' })
      .setSubject('idp|patient-0001')
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(secret);
    expect((await api(ts.httpUrl, 'GET', '/me', { token })).status).toBe(401);
  });

  it('applies the account checks: a disabled account is refused with ACCOUNT_DISABLED / close 4003', async () => {
    const token = await idpToken({ sub: 'idp|therapist-0002', role: 'therapist' });
    const me = await api(ts.httpUrl, 'GET', '/me', { token });
    expect(me.status).toBe(403);
    expect(me.body).toMatchObject({ error: 'ACCOUNT_DISABLED' });
    const c = await TestClient.connect(ts.url);
    expect(await c.auth(token)).toMatchObject({ type: 'error', code: 'ACCOUNT_DISABLED' });
    expect((await c.closed).code).toBe(4003);
  });

  it('local password login keeps working beside the identity provider', async () => {
    await createAccount(ts, { role: 'admin', login: 'admin.local', password: 'a long fictional passphrase' });
    const tokens = await login(ts, 'admin.local', 'a long fictional passphrase');
    expect((await api(ts.httpUrl, 'GET', '/me', { token: tokens.accessToken })).body).toMatchObject({ role: 'admin' });
  });
});
