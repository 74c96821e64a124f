/**
 * Password rules and checks. Passwords are compared as NFC-normalised Unicode, counted in code points: 12 to 256.
 * No composition rules: length is what makes a password strong, and a passphrase is welcome.
 */
import type { PasswordHasher } from './password-hasher.js';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/** Why a password is refused, in words for the person choosing it; `undefined` when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password.normalize('NFC')].length;
  if (length < PASSWORD_MIN_LENGTH) return `the password must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `the password must be at most ${PASSWORD_MAX_LENGTH} characters`;
  return undefined;
}

export function hashPassword(hasher: PasswordHasher, password: string): Promise<string> {
  return hasher.hash(password.normalize('NFC'));
}

/**
 * An argon2id hash, with the same limits as every stored hash, of 32 random bytes that were thrown away. An unknown
 * login name is verified against it, so it costs the same time as a wrong password and the answers cannot be told
 * apart.
 */
const DUMMY_HASH = '$argon2id$v=19$m=65536,t=2,p=1$SKKd0En8nPzG7xGN84v+vQ$4LZEqRJG1g9BK57g8Ow9Lg4vG6zpiWkF9l2RXhKcJxE';

/**
 * Whether `password` matches `hash`. With no hash (unknown login, or an account without a password) it still runs a
 * full argon2id verification against a dummy hash, and answers false.
 */
export async function checkPassword(
  hasher: PasswordHasher,
  password: string,
  hash: string | null | undefined,
): Promise<boolean> {
  const candidate = password.normalize('NFC');
  if (!hash) {
    await hasher.verify(candidate, DUMMY_HASH);
    return false;
  }
  return hasher.verify(candidate, hash);
}
