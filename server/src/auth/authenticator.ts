/** Turns the token of an `auth` frame into a principal, or says why not. */
import type { Role } from '@therapy-chat/protocol';

export interface Principal {
  readonly userId: string;
  readonly role: Role;
  /** When the token stops being valid, ms since the epoch. */
  readonly expiresAt: number;
  /** The login session the token belongs to (tokens from the login API); logging out ends it. */
  readonly sessionId?: string;
}

export type AuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly code: AuthRefusal; readonly reason: string };

/**
 * Why a token is refused: `ACCOUNT_DISABLED` (the account exists but is disabled) and `SESSION_ENDED` (its login
 * session was logged out, revoked or ran out) come from the account checks (`account-authenticator.ts`).
 */
export type AuthRefusal = 'INVALID_TOKEN' | 'TOKEN_EXPIRED' | 'ACCOUNT_DISABLED' | 'SESSION_ENDED';

export interface Authenticator {
  authenticate(token: string, now?: number): Promise<AuthResult>;
}
