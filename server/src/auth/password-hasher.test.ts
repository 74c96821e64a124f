import { afterAll, describe, expect, it } from 'vitest';
import { PasswordHasher, PasswordHasherBusyError } from './password-hasher.js';
import { checkPassword, passwordProblem } from './passwords.js';

const hasher = new PasswordHasher({ workers: 1, maxQueue: 2 });
afterAll(() => hasher.close());

describe('password hashing', () => {
  it('makes argon2id hashes, salted, that verify only the right password', async () => {
    const a = await hasher.hash('a fictional passphrase');
    const b = await hasher.hash('a fictional passphrase');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    expect(a).not.toBe(b);
    expect(await hasher.verify('a fictional passphrase', a)).toBe(true);
    expect(await hasher.verify('a fictional passphrasE', a)).toBe(false);
    expect(await hasher.verify('anything', 'not a hash')).toBe(false);
  });

  it('runs off the event loop: timers keep firing while hashes are computed', async () => {
    let ticks = 0;
    let longest = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const t = Date.now();
      longest = Math.max(longest, t - last);
      last = t;
      ticks++;
    }, 5);
    await Promise.all([hasher.hash('one fictional pass'), hasher.hash('two fictional pass')]);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
    expect(longest).toBeLessThan(80);
  });

  it('refuses at once past its bounded queue', async () => {
    const jobs = Array.from({ length: 4 }, (_, i) =>
      hasher.hash(`fictional pass ${i}`).then(
        () => 'ok',
        (e: Error) => e,
      ),
    );
    const results = await Promise.all(jobs);
    expect(results.filter((r) => r instanceof PasswordHasherBusyError)).toHaveLength(1);
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
  });

  it('checks an unknown account against a dummy hash: false, after the same work', async () => {
    const t0 = Date.now();
    expect(await checkPassword(hasher, 'whatever fictional', null)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThan(20);
  });

  it('enforces 12–256 characters, counted in code points', () => {
    expect(passwordProblem('x'.repeat(11))).toMatch(/at least 12/);
    expect(passwordProblem('x'.repeat(12))).toBeUndefined();
    expect(passwordProblem('😀'.repeat(12))).toBeUndefined();
    expect(passwordProblem('x'.repeat(257))).toMatch(/at most 256/);
  });
});
