/**
 * Decorates the token verifiers with the account checks, so that every token check (WebSocket `auth` frames and
 * HTTP bearer tokens alike) also asks: does the account exist, is it active, does its role match the token's, and,
 * for a token of the login API (`sid`), is that login session still live? A token outlives none of these.
 *
 * Local tokens (the login API's and the dev tokens, signed with the server's key) name the user id in `sub`. With an
 * external identity provider configured, every other token is verified against its JWKS, and its `sub` is looked up
 * as the account's `external_subject`. Which verifier a token goes to is decided by its header `kid`.
 */
import { decodeProtectedHeader } from 'jose';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { AuthSessions } from './auth-sessions.js';
import type { Authenticator, AuthResult } from './authenticator.js';

export interface AccountAuthenticatorOptions {
  readonly db: Kysely<Database>;
  /** Verifies tokens signed with the server's own key. */
  readonly local: Authenticator;
  /** The `kid` of the server's own key. */
  readonly localKid: string;
  /** Verifies an external identity provider's tokens, when one is configured. */
  readonly external?: Authenticator;
}

export class AccountAuthenticator implements Authenticator {
  private readonly sessions: AuthSessions;

  constructor(private readonly options: AccountAuthenticatorOptions) {
    this.sessions = new AuthSessions(options.db);
  }

  private isLocal(token: string): boolean {
    if (!this.options.external) return true;
    try {
      return decodeProtectedHeader(token).kid === this.options.localKid;
    } catch {
      return true; // not a JWT at all: the local verifier says so
    }
  }

  async authenticate(token: string, now: number = Date.now()): Promise<AuthResult> {
    const local = this.isLocal(token);
    const verified = await (local ? this.options.local : this.options.external!).authenticate(token, now);
    if (!verified.ok) return verified;
    const claims = verified.principal;
    const row = await this.options.db
      .selectFrom('users')
      .select(['id', 'role', 'status'])
      .where(local ? 'id' : 'external_subject', '=', claims.userId)
      .executeTakeFirst();
    if (!row) return { ok: false, code: 'INVALID_TOKEN', reason: 'the token names no account of this service' };
    if (row.role !== claims.role) {
      return { ok: false, code: 'INVALID_TOKEN', reason: "the token's role is not the account's role" };
    }
    if (row.status !== 'active') return { ok: false, code: 'ACCOUNT_DISABLED', reason: 'the account is disabled' };
    if (claims.sessionId !== undefined && !(await this.sessions.isLive(claims.sessionId, row.id, now))) {
      return { ok: false, code: 'SESSION_ENDED', reason: 'the login session has ended; log in again' };
    }
    return { ok: true, principal: { ...claims, userId: row.id } };
  }
}
