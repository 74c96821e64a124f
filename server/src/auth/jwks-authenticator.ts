/**
 * Tokens of an external identity provider, verified against its published keys (JWKS, fetched and cached by jose's
 * `createRemoteJWKSet`): algorithms pinned, issuer, audience and expiry required. The principal it returns names the
 * provider's subject, not a user id: `AccountAuthenticator` maps it to the account whose `external_subject` it is.
 */
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { ROLES, type Role } from '@therapy-chat/protocol';
import type { Authenticator, AuthResult } from './authenticator.js';

/** Asymmetric algorithms only: `none` and the HMAC family (which a public key could be abused to forge) never. */
export const JWKS_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;

export interface JwksAuthenticatorOptions {
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  /** The claim holding the role. Default `role`. */
  readonly roleClaim?: string;
  /** Tolerated clock difference with the identity provider, in seconds. Default 5. */
  readonly clockToleranceSeconds?: number;
  /** How long a JWKS fetch may take, in ms. Default 5,000. */
  readonly timeoutMs?: number;
}

const SUBJECT = /^[\x21-\x7e]{1,255}$/;

export class JwksAuthenticator implements Authenticator {
  private readonly jwks: ReturnType<typeof createRemoteJWKSet>;
  private readonly roleClaim: string;

  constructor(private readonly options: JwksAuthenticatorOptions) {
    this.jwks = createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: options.timeoutMs ?? 5000 });
    this.roleClaim = options.roleClaim ?? 'role';
  }

  async authenticate(token: string, now: number = Date.now()): Promise<AuthResult> {
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        algorithms: [...JWKS_ALGORITHMS],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        currentDate: new Date(now),
      });
      const role = payload[this.roleClaim];
      if (typeof role !== 'string' || !ROLES.includes(role as Role)) {
        return { ok: false, code: 'INVALID_TOKEN', reason: `the token has no valid \`${this.roleClaim}\` claim` };
      }
      if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) {
        return { ok: false, code: 'INVALID_TOKEN', reason: 'the token `sub` is not a valid subject' };
      }
      const expiresAt = (payload.exp as number) * 1000;
      if (expiresAt <= now) return { ok: false, code: 'TOKEN_EXPIRED', reason: 'the token has expired' };
      return { ok: true, principal: { userId: payload.sub, role: role as Role, expiresAt } };
    } catch (err) {
      if (err instanceof errors.JWTExpired)
        return { ok: false, code: 'TOKEN_EXPIRED', reason: 'the token has expired' };
      if (err instanceof errors.JWTClaimValidationFailed) {
        return { ok: false, code: 'INVALID_TOKEN', reason: `the token claim \`${err.claim}\` is not accepted` };
      }
      if (err instanceof errors.JWKSNoMatchingKey) {
        return { ok: false, code: 'INVALID_TOKEN', reason: 'the identity provider publishes no key for this token' };
      }
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
        return { ok: false, code: 'INVALID_TOKEN', reason: "the identity provider's keys could not be fetched" };
      }
      return { ok: false, code: 'INVALID_TOKEN', reason: 'the token is malformed or its signature is not valid' };
    }
  }
}
