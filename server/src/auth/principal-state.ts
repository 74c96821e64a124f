/** Whether an authenticated principal still stands: its account active, its login session (if any) live. */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import { AuthSessions } from './auth-sessions.js';
import type { Principal } from './authenticator.js';

export type PrincipalState = 'active' | 'disabled' | 'session-ended';

export async function principalState(db: Kysely<Database>, p: Principal, now: number): Promise<PrincipalState> {
  const user = await db.selectFrom('users').select('status').where('id', '=', p.userId).executeTakeFirst();
  if (!user || user.status !== 'active') return 'disabled';
  if (p.sessionId !== undefined && !(await new AuthSessions(db).isLive(p.sessionId, p.userId, now))) {
    return 'session-ended';
  }
  return 'active';
}
