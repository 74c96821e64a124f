/**
 * A person's identity fields (name, date of birth, email, phone, NHS number, GP), kept apart from clinical data:
 * sealed as one JSON document under a per-user data key (`user_keys`, wrapped by the KEK) and stored on the user's
 * row. Erasing identity destroys that key and the ciphertext; the clinical record, under the case's keys, is untouched.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { aad, KEY_BYTES, open, seal } from '../crypto/aead.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';

export interface Identity {
  readonly name?: string;
  /** `YYYY-MM-DD`. */
  readonly dateOfBirth?: string;
  readonly email?: string;
  readonly phone?: string;
  readonly nhsNumber?: string;
  /** The person's general practice. */
  readonly gp?: string;
}

export const IDENTITY_FIELDS = ['name', 'dateOfBirth', 'email', 'phone', 'nhsNumber', 'gp'] as const;

export interface IdentityDeps {
  readonly db: Kysely<Database>;
  readonly provider: KeyProvider;
}

const identityAad = (userId: string) => aad('user.identity', userId);

async function userKey(
  deps: IdentityDeps,
  userId: string,
  create: boolean,
): Promise<{ id: string; key: Buffer } | undefined> {
  const row = await deps.db
    .selectFrom('user_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (row) {
    return {
      id: row.id,
      key: await deps.provider.unwrap(row.id, { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped) }),
    };
  }
  if (!create) return undefined;
  const id = newId('uk');
  const key = randomBytes(KEY_BYTES);
  const wrapped = await deps.provider.wrap(id, key);
  await deps.db
    .insertInto('user_keys')
    .values({ id, user_id: userId, kek_id: wrapped.kekId, wrapped: wrapped.wrapped, created_at: Date.now() })
    .execute();
  return { id, key };
}

/** Seals and stores a user's identity, replacing what was there. */
export async function writeIdentity(deps: IdentityDeps, userId: string, identity: Identity): Promise<void> {
  const k = (await userKey(deps, userId, true))!;
  const ct = seal(k.key, Buffer.from(JSON.stringify(identity), 'utf8'), identityAad(userId));
  await deps.db.updateTable('users').set({ identity_key_id: k.id, identity_ct: ct }).where('id', '=', userId).execute();
}

/** The user's identity; `undefined` when none was recorded, `'erased'` after erasure. */
export async function readIdentity(deps: IdentityDeps, userId: string): Promise<Identity | 'erased' | undefined> {
  const row = await deps.db
    .selectFrom('users')
    .select(['identity_ct', 'identity_erased_at'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.identity_erased_at !== null) return 'erased';
  if (!row.identity_ct) return undefined;
  const k = await userKey(deps, userId, false);
  if (!k) return undefined;
  return JSON.parse(open(k.key, row.identity_ct, identityAad(userId)).toString('utf8')) as Identity;
}

/** Erases a user's identity: the per-user keys and the ciphertext are destroyed; the account row stays. */
export async function eraseIdentity(db: Kysely<Database>, userId: string, now: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('user_keys').where('user_id', '=', userId).execute();
    await trx
      .updateTable('users')
      .set({ identity_ct: null, identity_key_id: null, identity_erased_at: now })
      .where('id', '=', userId)
      .execute();
  });
}

/** Whole years between a `YYYY-MM-DD` date of birth and `now` (UTC). */
export function ageOn(dateOfBirth: string, now: number): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateOfBirth);
  if (!m) throw new RangeError('dateOfBirth must be YYYY-MM-DD');
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const today = new Date(now);
  let age = today.getUTCFullYear() - y;
  const beforeBirthday = today.getUTCMonth() + 1 < mo || (today.getUTCMonth() + 1 === mo && today.getUTCDate() < d);
  if (beforeBirthday) age--;
  return age;
}
