/**
 * Client message ids. Any printable-ASCII string up to `maxClientMsgIdLength` is accepted; these are the ids the SDK
 * and the load tool send, and the ones a client should prefer.
 *
 * A new id sorts after the ids made before it (to the millisecond, across clients whose clocks agree): the first 10
 * characters are the time in milliseconds, the next 16 are 80 random bits, all in Crockford's base32 (`0-9`, then
 * capitals without I, L, O, U), whose characters sort in the same order as their values. The server's client-id index
 * leads with the id, so time-ordered ids are added at its end, on pages a group commit shares; random ids work the
 * same but cost the store a page write per message.
 */

const BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
/** The largest time 10 base32 characters hold (2^50 − 1 ms, in the year 37,648). */
const MAX_TIME = 2 ** 50 - 1;

/** A time-ordered, unguessable client message id: 26 characters, e.g. `01JDX3Q4Z8M7K2P9T5R3W6V1YC`. */
export function newClientMsgId(now: number = Date.now()): string {
  if (!Number.isInteger(now) || now < 0 || now > MAX_TIME) throw new RangeError(`newClientMsgId: bad time ${now}`);
  let time = '';
  for (let i = 0, t = now; i < TIME_CHARS; i++, t = Math.floor(t / 32)) time = BASE32[t % 32] + time;
  const bytes = new Uint8Array(RANDOM_CHARS);
  globalThis.crypto.getRandomValues(bytes);
  let random = '';
  // 32 divides 256, so taking each byte modulo 32 keeps every character equally likely.
  for (const b of bytes) random += BASE32[b & 31];
  return time + random;
}
