import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aad, DecryptError, open, seal } from './aead.js';

describe('AES-256-GCM sealing', () => {
  const key = randomBytes(32);
  const where = aad('message.text', 'cv_1', 7);

  it('round-trips, with a fresh IV each time', () => {
    const a = seal(key, Buffer.from('I feel better today'), where);
    const b = seal(key, Buffer.from('I feel better today'), where);
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(1, 13).equals(b.subarray(1, 13))).toBe(false);
    expect(open(key, a, where).toString()).toBe('I feel better today');
    expect(a.length).toBe(1 + 12 + 16 + 'I feel better today'.length);
  });

  it('never repeats an IV, across refills of the IV pool, and takes text as UTF-8', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const blob = seal(key, `message ${i} é`, where);
      ivs.add(blob.subarray(1, 13).toString('hex'));
      expect(open(key, blob, where).toString('utf8')).toBe(`message ${i} é`);
    }
    expect(ivs.size).toBe(2000);
  });

  it('fails on another place (AAD), another key, or any altered byte', () => {
    const blob = seal(key, Buffer.from('private'), where);
    expect(() => open(key, blob, aad('message.text', 'cv_1', 8))).toThrow(DecryptError);
    expect(() => open(key, blob, aad('message.text', 'cv_2', 7))).toThrow(DecryptError);
    expect(() => open(randomBytes(32), blob, where)).toThrow(DecryptError);
    for (let i = 0; i < blob.length; i++) {
      const bad = Buffer.from(blob);
      bad[i]! ^= 0x01;
      expect(() => open(key, bad, where)).toThrow(DecryptError);
    }
  });

  it('refuses truncated blobs and short tags', () => {
    const blob = seal(key, Buffer.from('x'), where);
    expect(() => open(key, blob.subarray(0, 20), where)).toThrow(DecryptError);
    expect(() => open(key, blob.subarray(0, blob.length - 1), where)).toThrow(DecryptError);
  });

  it('needs a 256-bit key', () => {
    expect(() => seal(randomBytes(16), Buffer.from('x'), where)).toThrow(RangeError);
  });
});
