/**
 * The age rules of DESIGN §2, as one pure function: a contract sets the minimum age (18 by default; 16 or 12 on some
 * contracts), and a patient under 16 needs a verified referral and recorded guardian consent. Age is counted in whole
 * years on the UTC calendar day the case is opened (`ageOn` in accounts/identity.ts): a person turns 16 on their
 * 16th birthday, and someone born on 29 February turns a year older on 1 March in years without one.
 */
import { ageOn } from '../accounts/identity.js';

/** The minimum ages a contract may set. */
export const CONTRACT_MIN_AGES = [12, 16, 18] as const;
export type ContractMinAge = (typeof CONTRACT_MIN_AGES)[number];

/** Below this age a case needs a verified referral and recorded guardian consent. */
export const GUARDIAN_CONSENT_BELOW_AGE = 16;

export interface AgeRuleInput {
  /** The patient's date of birth (`YYYY-MM-DD`) as recorded in their identity; `undefined` when none is. */
  readonly dateOfBirth: string | undefined;
  readonly minAge: number;
  readonly referralVerified: boolean;
  readonly guardianConsent: boolean;
  /** When the case is opened, ms since the epoch. */
  readonly now: number;
}

export type AgeRuleRefusal =
  | 'no-date-of-birth'
  | 'invalid-date-of-birth'
  | 'below-minimum-age'
  | 'referral-not-verified'
  | 'guardian-consent-missing'
  | 'referral-and-guardian-consent-missing';

export type AgeRuleDecision =
  | {
      readonly allow: true;
      readonly age: number;
      /** Whether the case is one of a patient under 16: referral and consent are recorded with it. */
      readonly underSixteen: boolean;
    }
  | { readonly allow: false; readonly refusal: AgeRuleRefusal; readonly message: string };

/** Whether `s` is a real calendar date `YYYY-MM-DD` (not 2010-02-30). */
function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
}

/** Decides whether a case may be opened for a patient of this date of birth under a contract of this minimum age. */
export function decideAgeRule(input: AgeRuleInput): AgeRuleDecision {
  const { dateOfBirth, minAge, now } = input;
  if (dateOfBirth === undefined) {
    return {
      allow: false,
      refusal: 'no-date-of-birth',
      message: "the patient has no date of birth on record: the contract's age rules cannot be checked",
    };
  }
  if (!isCalendarDate(dateOfBirth)) {
    return {
      allow: false,
      refusal: 'invalid-date-of-birth',
      message: 'the date of birth on record is not a valid date (YYYY-MM-DD)',
    };
  }
  const age = ageOn(dateOfBirth, now);
  if (age < 0) {
    return {
      allow: false,
      refusal: 'invalid-date-of-birth',
      message: 'the date of birth on record is in the future',
    };
  }
  if (age < minAge) {
    return {
      allow: false,
      refusal: 'below-minimum-age',
      message: `the patient is ${age}; this contract's minimum age is ${minAge}`,
    };
  }
  if (age >= GUARDIAN_CONSENT_BELOW_AGE) return { allow: true, age, underSixteen: false };
  const { referralVerified, guardianConsent } = input;
  if (!referralVerified || !guardianConsent) {
    const refusal: AgeRuleRefusal =
      !referralVerified && !guardianConsent
        ? 'referral-and-guardian-consent-missing'
        : !referralVerified
          ? 'referral-not-verified'
          : 'guardian-consent-missing';
    const missing = [
      ...(referralVerified ? [] : ['a verified referral (referralVerified)']),
      ...(guardianConsent ? [] : ['recorded guardian consent (guardianConsent)']),
    ].join(' and ');
    return { allow: false, refusal, message: `the patient is ${age}: under 16 a case needs ${missing}` };
  }
  return { allow: true, age, underSixteen: true };
}
