/**
 * The embedded default's token signing key: an Ed25519 key pair in DATA_DIR, created on first start. Only the dev
 * token CLI and the demo sign with it; in production an identity provider signs and the server only verifies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { Role } from '@therapy-chat/protocol';
import { createFileAtomically } from '../create-file.js';

export const SIGNING_KEY_FILE_NAME = 'signing-key.json';
export const TOKEN_ALGORITHM = 'EdDSA';

type Key = Awaited<ReturnType<typeof importJWK>>;

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: Key;
  readonly publicKey: Key;
}

export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const file = path.join(dataDir, SIGNING_KEY_FILE_NAME);
  if (!fs.existsSync(file)) {
    const { privateKey } = await generateKeyPair(TOKEN_ALGORITHM, { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = `sk-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`;
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Another process starting at the same moment may win; then its key is the one read below.
    createFileAtomically(file, JSON.stringify({ ...jwk, kid, alg: TOKEN_ALGORITHM }, null, 2));
  }
  const jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as JWK & { kid: string };
  const { d: _d, ...publicJwk } = jwk;
  return {
    kid: jwk.kid,
    privateKey: (await importJWK(jwk, TOKEN_ALGORITHM)) as Key,
    publicKey: (await importJWK(publicJwk, TOKEN_ALGORITHM)) as Key,
  };
}

export interface TokenClaims {
  readonly userId: string;
  readonly role: Role;
  /** Lifetime in seconds. */
  readonly ttlSeconds: number;
  readonly issuer: string;
  readonly audience: string;
}

export function signToken(key: SigningKey, claims: TokenClaims): Promise<string> {
  return new SignJWT({ role: claims.role })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt()
    .setExpirationTime(`${claims.ttlSeconds}s`)
    .sign(key.privateKey);
}
