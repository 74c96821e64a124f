/**
 * Accounts: who may log in, in which role, and whether they still may. A local account has a login name (chosen by
 * the admin; not an email address, so that no identity field leaks into a clear column) and an argon2id password
 * hash; an account of an external identity provider has that provider's subject instead. Identity fields are sealed
 * by `identity.ts`. Disabling an account ends its login sessions and closes its sockets on every node.
 */
import type { Kysely } from 'kysely';
import { ROLES, type Role } from '@therapy-chat/protocol';
import type { PasswordHasher } from '../auth/password-hasher.js';
import { hashPassword, passwordProblem } from '../auth/passwords.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { newId } from '../ids.js';
import type { Database } from '../store/schema.js';
import { writeIdentity, type Identity } from './identity.js';

/** Login names: 3–64 of `a-z 0-9 . _ -`, starting with a letter or digit, compared in lower case. No `@`. */
export const LOGIN_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;
/** External subjects: what an identity provider puts in `sub`, printable ASCII without spaces, 1–255 characters. */
export const SUBJECT_PATTERN = /^[\x21-\x7e]{1,255}$/;

export type AccountStatus = 'active' | 'disabled';

export interface Account {
  readonly id: string;
  readonly role: Role;
  readonly status: AccountStatus;
  readonly login: string | null;
  readonly externalSubject: string | null;
  readonly createdAt: number;
  readonly disabledAt: number | null;
  readonly identityErased: boolean;
}

export interface NewAccount {
  readonly role: Role;
  readonly login?: string;
  readonly password?: string;
  readonly externalSubject?: string;
  readonly identity?: Identity;
}

export type AccountErrorCode = 'INVALID_LOGIN' | 'INVALID_PASSWORD' | 'INVALID_ACCOUNT' | 'LOGIN_TAKEN' | 'NOT_FOUND';

/** A refused account change, with a stable code the API maps to its own. */
export class AccountError extends Error {
  override readonly name = 'AccountError';
  constructor(
    readonly code: AccountErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AccountsDeps {
  readonly db: Kysely<Database>;
  readonly provider: KeyProvider;
  readonly hasher: PasswordHasher;
  /** Called when an account's sessions end (disable): the chat service closes its sockets on every node. */
  readonly revoked?: (userId: string, reason: 'disabled') => void;
  readonly now?: () => number;
}

type UserRow = Pick<
  Database['users'],
  'id' | 'role' | 'login' | 'external_subject' | 'created_at' | 'disabled_at' | 'identity_erased_at'
> & { status: string };

const COLUMNS = [
  'id',
  'role',
  'status',
  'login',
  'external_subject',
  'created_at',
  'disabled_at',
  'identity_erased_at',
] as const;

function toAccount(row: UserRow): Account {
  return {
    id: row.id,
    role: row.role as Role,
    status: row.status === 'disabled' ? 'disabled' : 'active',
    login: row.login,
    externalSubject: row.external_subject,
    createdAt: Number(row.created_at),
    disabledAt: row.disabled_at === null ? null : Number(row.disabled_at),
    identityErased: row.identity_erased_at !== null,
  };
}

/** Lower case, trimmed: `Alex.Doe` and `alex.doe` are one login. */
export function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}

export class Accounts {
  private readonly now: () => number;

  constructor(private readonly deps: AccountsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Creates an account; a login needs a password and the reverse, and an account needs a way to log in. */
  async create(input: NewAccount): Promise<Account> {
    if (!ROLES.includes(input.role))
      throw new AccountError('INVALID_ACCOUNT', `role must be one of ${ROLES.join(', ')}`);
    const login = input.login === undefined ? undefined : normaliseLogin(input.login);
    if (login !== undefined && !LOGIN_PATTERN.test(login)) {
      throw new AccountError(
        'INVALID_LOGIN',
        'login must be 3–64 characters of a–z, 0–9, `.`, `_` and `-`, starting with a letter or digit (not an email address)',
      );
    }
    if ((login === undefined) !== (input.password === undefined)) {
      throw new AccountError('INVALID_ACCOUNT', 'a login and a password go together: give both or neither');
    }
    if (input.password !== undefined) {
      const problem = passwordProblem(input.password);
      if (problem) throw new AccountError('INVALID_PASSWORD', problem);
    }
    if (input.externalSubject !== undefined && !SUBJECT_PATTERN.test(input.externalSubject)) {
      throw new AccountError('INVALID_ACCOUNT', 'externalSubject must be 1–255 printable ASCII characters');
    }
    if (login === undefined && input.externalSubject === undefined) {
      throw new AccountError('INVALID_ACCOUNT', 'an account needs a login and password, or an externalSubject');
    }
    const { db } = this.deps;
    if (
      login !== undefined &&
      (await db.selectFrom('users').select('id').where('login', '=', login).executeTakeFirst())
    ) {
      throw new AccountError('LOGIN_TAKEN', 'that login is taken');
    }
    if (
      input.externalSubject !== undefined &&
      (await db
        .selectFrom('users')
        .select('id')
        .where('external_subject', '=', input.externalSubject)
        .executeTakeFirst())
    ) {
      throw new AccountError('LOGIN_TAKEN', 'an account with that externalSubject exists');
    }
    const passwordHash = input.password === undefined ? null : await hashPassword(this.deps.hasher, input.password);
    const id = newId('u');
    try {
      await db
        .insertInto('users')
        .values({
          id,
          role: input.role,
          created_at: this.now(),
          status: 'active',
          login: login ?? null,
          password_hash: passwordHash,
          external_subject: input.externalSubject ?? null,
        })
        .execute();
    } catch (err) {
      // Two admins creating the same login at once: the unique index decides.
      if (/unique|duplicate/i.test((err as Error).message))
        throw new AccountError('LOGIN_TAKEN', 'that login is taken');
      throw err;
    }
    if (input.identity) await writeIdentity({ db, provider: this.deps.provider }, id, input.identity);
    return (await this.get(id))!;
  }

  async get(id: string): Promise<Account | undefined> {
    const row = await this.deps.db.selectFrom('users').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toAccount(row);
  }

  /** The account with this login name and its password hash (for the login check only). */
  async byLogin(login: string): Promise<{ account: Account; passwordHash: string | null } | undefined> {
    const name = normaliseLogin(login);
    if (!LOGIN_PATTERN.test(name)) return undefined;
    const row = await this.deps.db
      .selectFrom('users')
      .select([...COLUMNS, 'password_hash'])
      .where('login', '=', name)
      .executeTakeFirst();
    return row && { account: toAccount(row), passwordHash: row.password_hash };
  }

  async byExternalSubject(subject: string): Promise<Account | undefined> {
    const row = await this.deps.db
      .selectFrom('users')
      .select(COLUMNS)
      .where('external_subject', '=', subject)
      .executeTakeFirst();
    return row && toAccount(row);
  }

  /**
   * Disables an account: no login, refresh or token is accepted for it any more, its login sessions end, and its
   * sockets close on every node. Returns the account; disabling a disabled account changes nothing.
   */
  async disable(id: string): Promise<Account> {
    const now = this.now();
    const { db } = this.deps;
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ status: 'disabled', disabled_at: now })
        .where('id', '=', id)
        .where('status', '=', 'active')
        .execute();
      await trx
        .updateTable('auth_sessions')
        .set({ revoked_at: now })
        .where('user_id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
    });
    const account = await this.get(id);
    if (!account) throw new AccountError('NOT_FOUND', 'no such account');
    // Closing sockets is safe to repeat: a retried disable closes whatever reconnected meanwhile.
    this.deps.revoked?.(id, 'disabled');
    return account;
  }

  /** Enables a disabled account. Its old sessions stay ended: the user logs in again. */
  async enable(id: string): Promise<Account> {
    await this.deps.db.updateTable('users').set({ status: 'active', disabled_at: null }).where('id', '=', id).execute();
    const account = await this.get(id);
    if (!account) throw new AccountError('NOT_FOUND', 'no such account');
    return account;
  }
}
