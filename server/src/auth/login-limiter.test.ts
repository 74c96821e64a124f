import { describe, expect, it } from 'vitest';
import { LoginLimiter } from './login-limiter.js';

describe('LoginLimiter', () => {
  it('blocks a login name after its failures until the window ends; success clears it', () => {
    const l = new LoginLimiter({ perLogin: 3, perIp: 100, windowMs: 1000 });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs('pat', '10.0.0.1', 0)).toBe(0);
      l.failed('pat', '10.0.0.1', 0);
    }
    expect(l.retryAfterMs('pat', '10.0.0.2', 400)).toBe(600);
    expect(l.retryAfterMs('other', '10.0.0.1', 400)).toBe(0);
    expect(l.retryAfterMs('pat', '10.0.0.1', 1000)).toBe(0);
    l.failed('pat', null, 1000);
    l.succeeded('pat');
    expect(l.retryAfterMs('pat', null, 1001)).toBe(0);
  });

  it('blocks an IP that tries many login names', () => {
    const l = new LoginLimiter({ perLogin: 100, perIp: 3, windowMs: 1000 });
    for (let i = 0; i < 3; i++) l.failed(`name${i}`, '10.0.0.9', 0);
    expect(l.retryAfterMs('fresh', '10.0.0.9', 10)).toBe(990);
    expect(l.retryAfterMs('fresh', '10.0.0.8', 10)).toBe(0);
  });

  it('forgets the oldest windows past its memory bound', () => {
    const l = new LoginLimiter({ perLogin: 1, perIp: 1000, windowMs: 1000, maxKeys: 10 });
    for (let i = 0; i < 20; i++) l.failed(`name${i}`, null, 0);
    expect(l.retryAfterMs('name0', null, 1)).toBe(0);
    expect(l.retryAfterMs('name19', null, 1)).toBe(999);
  });
});
