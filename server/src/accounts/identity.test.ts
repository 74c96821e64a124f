import { describe, expect, it } from 'vitest';
import { ageOn } from './identity.js';

describe('ageOn', () => {
  const at = (iso: string) => Date.parse(iso);
  it('counts whole years in UTC, turning on the birthday itself', () => {
    expect(ageOn('2010-06-15', at('2026-06-14T23:59:59Z'))).toBe(15);
    expect(ageOn('2010-06-15', at('2026-06-15T00:00:00Z'))).toBe(16);
    expect(ageOn('2008-02-29', at('2026-02-28T12:00:00Z'))).toBe(17);
    expect(ageOn('2008-02-29', at('2026-03-01T00:00:00Z'))).toBe(18);
  });
  it('refuses a date that is not YYYY-MM-DD', () => {
    expect(() => ageOn('15/06/2010', 0)).toThrow(RangeError);
  });
});
