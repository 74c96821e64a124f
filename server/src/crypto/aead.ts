/**
 * AES-256-GCM with the rules of DESIGN §4: a random 96-bit IV per encryption, a 128-bit tag always verified
 * (`authTagLength: 16`), and nothing released before `final()` succeeds. The AAD binds a ciphertext to where it
 * belongs, so a ciphertext copied to another row fails to decrypt.
 *
 * Layout of a sealed blob: `version (1 byte) | iv (12) | tag (16) | ciphertext`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 1;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

export class DecryptError extends Error {
  override readonly name = 'DecryptError';
}

/** Additional authenticated data naming the place a ciphertext belongs to. */
export function aad(...parts: readonly (string | number)[]): Buffer {
  return Buffer.from(['therapy-chat/v1', ...parts].join('\u0000'), 'utf8');
}

export function seal(key: Buffer, plaintext: Buffer, associatedData: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError(`AES-256 needs a ${KEY_BYTES}-byte key`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = VERSION;
  iv.copy(out, 1);
  cipher.getAuthTag().copy(out, 1 + IV_BYTES);
  body.copy(out, HEADER_BYTES);
  return out;
}

/** @throws DecryptError when the blob is malformed, the key is wrong, or the AAD or any byte differs. */
export function open(key: Buffer, blob: Uint8Array, associatedData: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new RangeError(`AES-256 needs a ${KEY_BYTES}-byte key`);
  if (blob.length < HEADER_BYTES || blob[0] !== VERSION) throw new DecryptError('not a sealed blob of a known version');
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(1, 1 + IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData);
  decipher.setAuthTag(buf.subarray(1 + IV_BYTES, HEADER_BYTES));
  const head = decipher.update(buf.subarray(HEADER_BYTES));
  try {
    // Only after final() has verified the tag is any plaintext returned.
    return Buffer.concat([head, decipher.final()]);
  } catch {
    throw new DecryptError('authentication failed: wrong key, or the ciphertext or its context was altered');
  }
}
