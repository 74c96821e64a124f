import { randomBytes, randomInt } from 'node:crypto';

/** A random id with a type prefix, e.g. `cv_3q7…`: 128 bits, URL-safe, and unguessable. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

// Crockford's base32 without I, L, O, U: easy to read aloud and to type.
const REF_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A case reference such as `C-7K3M-92QD`: how staff name a case without naming the patient. */
export function newCaseRef(): string {
  let s = '';
  for (let i = 0; i < 8; i++) s += REF_ALPHABET[randomInt(REF_ALPHABET.length)];
  return `C-${s.slice(0, 4)}-${s.slice(4)}`;
}
