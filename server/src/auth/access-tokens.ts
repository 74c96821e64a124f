/** Access tokens of the login API: short-lived JWTs signed with the server's key, naming the login session (`sid`). */
import { SignJWT } from 'jose';
import type { Role } from '@therapy-chat/protocol';
import { TOKEN_ALGORITHM, type SigningKey } from './signing-key.js';

export interface AccessTokenClaims {
  readonly userId: string;
  readonly role: Role;
  readonly sessionId: string;
  readonly issuer: string;
  readonly audience: string;
  /** Issue time, ms since the epoch (the server's clock, so a fake clock in tests holds). */
  readonly now: number;
  readonly ttlSeconds: number;
}

/** The token and when it expires (ms since the epoch). */
export async function signAccessToken(
  key: SigningKey,
  claims: AccessTokenClaims,
): Promise<{ token: string; expiresAt: number }> {
  const iat = Math.floor(claims.now / 1000);
  const exp = iat + claims.ttlSeconds;
  const token = await new SignJWT({ role: claims.role, sid: claims.sessionId })
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setSubject(claims.userId)
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token, expiresAt: exp * 1000 };
}
