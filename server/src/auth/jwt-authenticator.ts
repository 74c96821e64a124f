/** Verifies JWTs with jose: algorithm pinned to EdDSA, issuer, audience and expiry checked, role claim validated. */
import { errors, jwtVerify } from 'jose';
import { ROLES, type Role } from '@therapy-chat/protocol';
import type { Authenticator, AuthResult } from './authenticator.js';
import { TOKEN_ALGORITHM, type SigningKey } from './signing-key.js';

export interface JwtAuthenticatorOptions {
  readonly key: Pick<SigningKey, 'publicKey'>;
  readonly issuer: string;
  readonly audience: string;
  /** Tolerated clock difference with the token issuer, in seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
}

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^as_[A-Za-z0-9_-]{22}$/;

export class JwtAuthenticator implements Authenticator {
  constructor(private readonly options: JwtAuthenticatorOptions) {}

  async authenticate(token: string, now: number = Date.now()): Promise<AuthResult> {
    try {
      const { payload } = await jwtVerify(token, this.options.key.publicKey, {
        algorithms: [TOKEN_ALGORITHM],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        currentDate: new Date(now),
      });
      const role = payload['role'];
      if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
        return { ok: false, code: 'INVALID_TOKEN', reason: 'the token has no valid `role` claim' };
      }
      if (typeof payload.sub !== 'string' || !USER_ID.test(payload.sub)) {
        return { ok: false, code: 'INVALID_TOKEN', reason: 'the token `sub` is not a valid user id' };
      }
      const expiresAt = (payload.exp as number) * 1000;
      // The clock tolerance is for skew on `nbf` and `iat`; a token already past `exp` is no use to a session.
      if (expiresAt <= now) return { ok: false, code: 'TOKEN_EXPIRED', reason: 'the token has expired' };
      const sid = payload['sid'];
      if (sid !== undefined && (typeof sid !== 'string' || !SESSION_ID.test(sid))) {
        return { ok: false, code: 'INVALID_TOKEN', reason: 'the token `sid` is not a valid session id' };
      }
      return {
        ok: true,
        principal: { userId: payload.sub, role: role as Role, expiresAt, ...(sid !== undefined && { sessionId: sid }) },
      };
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        return { ok: false, code: 'TOKEN_EXPIRED', reason: 'the token has expired' };
      if (err instanceof errors.JWTClaimValidationFailed) {
        return { ok: false, code: 'INVALID_TOKEN', reason: `the token claim \`${err.claim}\` is not accepted` };
      }
      return { ok: false, code: 'INVALID_TOKEN', reason: 'the token is malformed or its signature is not valid' };
    }
  }
}
