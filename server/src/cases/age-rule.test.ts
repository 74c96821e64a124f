import { describe, expect, it } from 'vitest';
import { CONTRACT_MIN_AGES, decideAgeRule, type AgeRuleInput } from './age-rule.js';

const at = (iso: string) => Date.parse(iso);
const rule = (over: Partial<AgeRuleInput>) =>
  decideAgeRule({
    dateOfBirth: '2000-01-01',
    minAge: 18,
    referralVerified: false,
    guardianConsent: false,
    now: 0,
    ...over,
  });

describe('decideAgeRule: birthday boundaries', () => {
  // Born 15 May 2010: 16 on 15 May 2026, 18 on 15 May 2028.
  const dob = '2010-05-15';
  it.each([
    ['the last second of the day before the 16th birthday', '2026-05-14T23:59:59.999Z', 15],
    ['the first second of the 16th birthday', '2026-05-15T00:00:00.000Z', 16],
    ['the last second of the day before the 18th birthday', '2028-05-14T23:59:59.999Z', 17],
    ['the 18th birthday', '2028-05-15T00:00:00.000Z', 18],
  ])('%s: age %i', (_what, now, age) => {
    const d = rule({ dateOfBirth: dob, minAge: 12, referralVerified: true, guardianConsent: true, now: at(now) });
    expect(d).toMatchObject({ allow: true, age });
  });

  it('refuses on the day before the 18th birthday under an 18 contract, allows on the day', () => {
    expect(rule({ dateOfBirth: dob, minAge: 18, now: at('2028-05-14T12:00:00Z') })).toMatchObject({
      allow: false,
      refusal: 'below-minimum-age',
    });
    expect(rule({ dateOfBirth: dob, minAge: 18, now: at('2028-05-15T00:00:00Z') })).toEqual({
      allow: true,
      age: 18,
      underSixteen: false,
    });
  });

  it('under a 12 contract needs referral and consent the day before the 16th birthday, not on the day', () => {
    expect(rule({ dateOfBirth: dob, minAge: 12, now: at('2026-05-14T12:00:00Z') })).toMatchObject({
      allow: false,
      refusal: 'referral-and-guardian-consent-missing',
    });
    expect(rule({ dateOfBirth: dob, minAge: 12, now: at('2026-05-15T00:00:00Z') })).toEqual({
      allow: true,
      age: 16,
      underSixteen: false,
    });
  });

  it('under a 16 contract refuses the day before the 16th birthday and allows on the day, without consent', () => {
    expect(rule({ dateOfBirth: dob, minAge: 16, now: at('2026-05-14T23:59:59Z') })).toMatchObject({
      allow: false,
      refusal: 'below-minimum-age',
    });
    expect(rule({ dateOfBirth: dob, minAge: 16, now: at('2026-05-15T00:00:00Z') })).toMatchObject({ allow: true });
  });
});

describe('decideAgeRule: born on 29 February', () => {
  const dob = '2008-02-29';
  it.each([
    // Years without 29 February: a year older on 1 March, not on 28 February.
    ['2024-02-28T23:59:59Z', 15],
    ['2024-02-29T00:00:00Z', 16], // a leap year: the birthday itself
    ['2025-02-28T12:00:00Z', 16],
    ['2025-03-01T00:00:00Z', 17],
    ['2026-02-28T23:59:59Z', 17],
    ['2026-03-01T00:00:00Z', 18],
  ])('on %s is %i', (now, age) => {
    expect(
      rule({ dateOfBirth: dob, minAge: 12, referralVerified: true, guardianConsent: true, now: at(now) }),
    ).toMatchObject({ allow: true, age });
  });

  it('is refused by an 18 contract on 28 February 2026 and allowed on 1 March 2026', () => {
    expect(rule({ dateOfBirth: dob, now: at('2026-02-28T23:59:59Z') })).toMatchObject({ allow: false });
    expect(rule({ dateOfBirth: dob, now: at('2026-03-01T00:00:00Z') })).toMatchObject({ allow: true, age: 18 });
  });
});

describe('decideAgeRule: the full matrix of contract × age × referral × consent', () => {
  const now = at('2026-11-23T12:00:00Z');
  // A date of birth that makes the patient exactly `age` today (birthday earlier this year).
  const dobFor = (age: number) => `${2026 - age}-06-01`;
  const ages = [0, 11, 12, 13, 15, 16, 17, 18, 19, 40, 90];
  for (const minAge of CONTRACT_MIN_AGES) {
    for (const age of ages) {
      for (const referralVerified of [false, true]) {
        for (const guardianConsent of [false, true]) {
          const expected =
            age < minAge
              ? 'below-minimum-age'
              : age >= 16
                ? 'allow'
                : referralVerified && guardianConsent
                  ? 'allow'
                  : !referralVerified && !guardianConsent
                    ? 'referral-and-guardian-consent-missing'
                    : !referralVerified
                      ? 'referral-not-verified'
                      : 'guardian-consent-missing';
          it(`contract ${minAge}, age ${age}, referral ${referralVerified}, consent ${guardianConsent}: ${expected}`, () => {
            const d = decideAgeRule({ dateOfBirth: dobFor(age), minAge, referralVerified, guardianConsent, now });
            if (expected === 'allow') {
              expect(d).toEqual({ allow: true, age, underSixteen: age < 16 });
            } else {
              expect(d).toMatchObject({ allow: false, refusal: expected });
              if (!d.allow) expect(d.message.length).toBeGreaterThan(10);
            }
          });
        }
      }
    }
  }
});

describe('decideAgeRule: what is on record', () => {
  it('refuses without a date of birth', () => {
    expect(rule({ dateOfBirth: undefined })).toMatchObject({ allow: false, refusal: 'no-date-of-birth' });
  });

  it.each(['2010-02-30', '2010-13-01', '10-01-01', '2010-1-1', 'yesterday', ''])(
    'refuses a date of birth that is no date: %j',
    (dateOfBirth) => {
      expect(rule({ dateOfBirth, now: at('2026-01-01T00:00:00Z') })).toMatchObject({
        allow: false,
        refusal: 'invalid-date-of-birth',
      });
    },
  );

  it('refuses a date of birth in the future', () => {
    expect(rule({ dateOfBirth: '2027-01-01', minAge: 12, now: at('2026-01-01T00:00:00Z') })).toMatchObject({
      allow: false,
      refusal: 'invalid-date-of-birth',
    });
  });

  it('names what is missing under 16', () => {
    const dob = '2013-01-01';
    const now = at('2026-06-01T00:00:00Z');
    const msg = (r: boolean, g: boolean) => {
      const d = rule({ dateOfBirth: dob, minAge: 12, referralVerified: r, guardianConsent: g, now });
      return d.allow ? '' : d.message;
    };
    expect(msg(false, true)).toMatch(/verified referral/);
    expect(msg(false, true)).not.toMatch(/guardian/);
    expect(msg(true, false)).toMatch(/guardian consent/);
    expect(msg(true, false)).not.toMatch(/referral/);
    expect(msg(false, false)).toMatch(/verified referral .* and .*guardian consent/);
  });
});
