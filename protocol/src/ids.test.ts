import { describe, expect, it } from 'vitest';
import { newClientMsgId } from './ids.js';
import { validateClientFrame } from './validate.js';

describe('newClientMsgId', () => {
  it('makes 26-character ids of Crockford base32 that a send frame accepts', () => {
    const id = newClientMsgId();
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const result = validateClientFrame({ type: 'send', id: 1, conv: 'cv_1', clientMsgId: id, text: 'hello' });
    expect(result.ok).toBe(true);
  });

  it('writes the time first, most significant digit first', () => {
    expect(newClientMsgId(0).slice(0, 10)).toBe('0000000000');
    expect(newClientMsgId(31).slice(0, 10)).toBe('000000000Z');
    expect(newClientMsgId(32).slice(0, 10)).toBe('0000000010');
    expect(newClientMsgId(2 ** 50 - 1).slice(0, 10)).toBe('ZZZZZZZZZZ');
  });

  it('sorts ids of later milliseconds after earlier ones, as plain strings', () => {
    const times = [0, 1, 31, 32, 1_000, 1_732_406_400_000, 1_732_406_400_001, 1_732_406_400_032, 4_102_444_800_000];
    const ids = times.map((t) => newClientMsgId(t));
    expect([...ids].sort()).toStrictEqual(ids);
    // Random parts never reorder ids of different milliseconds, whatever they draw.
    for (let i = 0; i < 200; i++) expect(newClientMsgId(5_000) < newClientMsgId(5_001)).toBe(true);
  });

  it('draws a fresh random part for every id, even within one millisecond', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => newClientMsgId(1_732_406_400_000)));
    expect(ids.size).toBe(10_000);
    // Each of the 16 random characters takes all 32 values over 10,000 draws.
    for (let pos = 10; pos < 26; pos++) expect(new Set([...ids].map((s) => s[pos])).size).toBe(32);
  });

  it('refuses a time it cannot write', () => {
    for (const t of [-1, 1.5, Number.NaN, 2 ** 50]) expect(() => newClientMsgId(t)).toThrow(RangeError);
  });
});
