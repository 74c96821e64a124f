/**
 * Login sessions and their refresh tokens. A refresh token is `<session id>.<256 random bits>`; only its SHA-256 is
 * stored. Each refresh rotates it: the new token's hash replaces the old, which is kept as `previous_refresh_hash`.
 * A token that was already rotated away coming back means two parties hold the session's tokens (one of them
 * stole it), so the whole session is revoked. A session lives at most its absolute lifetime, refreshes or not.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';

export interface NewSession {
  readonly sessionId: string;
  readonly refreshToken: string;
  readonly expiresAt: number;
}

export type RotateResult =
  | {
      readonly kind: 'rotated';
      readonly sessionId: string;
      readonly userId: string;
      readonly refreshToken: string;
      readonly expiresAt: number;
    }
  /** An already-rotated token came back: the session is now revoked. */
  | { readonly kind: 'reused'; readonly sessionId: string; readonly userId: string }
  /** Unknown, malformed, revoked or expired. */
  | { readonly kind: 'invalid' };

const TOKEN = /^(as_[A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

const sha256 = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

function sameHash(a: string | null, b: string): boolean {
  if (a === null || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

function newToken(sessionId: string): string {
  return `${sessionId}.${randomBytes(32).toString('base64url')}`;
}

export class AuthSessions {
  constructor(private readonly db: Kysely<Database>) {}

  async create(
    userId: string,
    now: number,
    ttlMs: number,
    client: { ip: string | null; device: string | null },
  ): Promise<NewSession> {
    const sessionId = newId('as');
    const refreshToken = newToken(sessionId);
    const expiresAt = now + ttlMs;
    await this.db
      .insertInto('auth_sessions')
      .values({
        id: sessionId,
        user_id: userId,
        refresh_hash: sha256(refreshToken),
        previous_refresh_hash: null,
        created_at: now,
        refreshed_at: now,
        expires_at: expiresAt,
        revoked_at: null,
        ip: client.ip,
        device: client.device,
      })
      .execute();
    return { sessionId, refreshToken, expiresAt };
  }

  /** Swaps a refresh token for a new one (same session, same absolute expiry). */
  async rotate(refreshToken: string, now: number): Promise<RotateResult> {
    const m = TOKEN.exec(refreshToken);
    if (!m) return { kind: 'invalid' };
    const sessionId = m[1]!;
    const hash = sha256(refreshToken);
    const row = await this.db.selectFrom('auth_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    if (!row || row.revoked_at !== null || Number(row.expires_at) <= now) return { kind: 'invalid' };
    if (sameHash(row.refresh_hash, hash)) {
      const next = newToken(sessionId);
      // Compare-and-set: of two refreshes racing with the same token, one wins and the other is a reuse.
      const res = await this.db
        .updateTable('auth_sessions')
        .set({ refresh_hash: sha256(next), previous_refresh_hash: hash, refreshed_at: now })
        .where('id', '=', sessionId)
        .where('refresh_hash', '=', hash)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) {
        return {
          kind: 'rotated',
          sessionId,
          userId: row.user_id,
          refreshToken: next,
          expiresAt: Number(row.expires_at),
        };
      }
    } else if (!sameHash(row.previous_refresh_hash, hash)) {
      return { kind: 'invalid' };
    }
    await this.revoke(sessionId, now);
    return { kind: 'reused', sessionId, userId: row.user_id };
  }

  async revoke(sessionId: string, now: number): Promise<void> {
    await this.db
      .updateTable('auth_sessions')
      .set({ revoked_at: now })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Whether a session is live for this user: it exists, belongs to them, is not revoked and not expired. */
  async isLive(sessionId: string, userId: string, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('auth_sessions')
      .select(['user_id', 'revoked_at', 'expires_at'])
      .where('id', '=', sessionId)
      .executeTakeFirst();
    return !!row && row.user_id === userId && row.revoked_at === null && Number(row.expires_at) > now;
  }
}
