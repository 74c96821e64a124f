/**
 * Risk screening of patient messages (DESIGN.md §2, "Safety"). A screen looks at the text of one message and says
 * whether it suggests the patient may be at risk. A hit never blocks delivery: the message path commits and delivers
 * the message as usual, then alerts the therapist and the supervisor, audits the hit and shows the patient crisis
 * resources.
 *
 * The default screen is a maintained phrase list (`phrase-list-screen.ts`); another classifier implements this same
 * interface and passes the same contract suite (`risk-screen.contract.ts`).
 */

export const RISK_LEVELS = ['high', 'medium'] as const;
/** `high`: act now (a plan, means, intent, ongoing abuse). `medium`: a worrying statement the therapist should see. */
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const RISK_CATEGORIES = ['suicide', 'self-harm', 'harm-to-others', 'abuse'] as const;
export type RiskCategory = (typeof RISK_CATEGORIES)[number];

/**
 * The grammar of `RiskHit.matched` and `RiskScreen.classifier`: lower-case codes, no spaces, so no sentences. It is
 * the audit log's grammar for a `reason`, so either can be recorded there as it is.
 */
export const RISK_CODE_FORMAT = /^[a-z0-9]+(?:[._:@-][a-z0-9]+)*$/;
/** Longest `matched`. With `@` and the longest `classifier`, it fits an audit `reason` (96 characters). */
export const MAX_MATCHED_CHARS = 48;
/** Longest `classifier`. */
export const MAX_CLASSIFIER_CHARS = 47;

export interface RiskHit {
  readonly hit: true;
  readonly level: RiskLevel;
  readonly category: RiskCategory;
  /**
   * What matched, as an identifier of the classifier's own making (for the phrase list: the entry id, such as
   * `suicide.intent`), in RISK_CODE_FORMAT and at most MAX_MATCHED_CHARS. Never the patient's text or any part of it:
   * alerts and audit events carry this value, and they must not copy clinical text.
   */
  readonly matched: string;
}

export type RiskResult = { readonly hit: false } | RiskHit;

/** The result for text with no risk found; shared, so that the hot path allocates nothing for it. */
export const NO_RISK: RiskResult = Object.freeze({ hit: false });

export interface RiskScreen {
  /**
   * Which classifier and which version of its data screened, e.g. `phrase-list@2025-01-15`. Audit events record it
   * so that a later review can tell what the screen knew at the time. In RISK_CODE_FORMAT, at most
   * MAX_CLASSIFIER_CHARS. Contains no clinical text.
   */
  readonly classifier: string;
  /**
   * Screens one message. Synchronous and fast: it runs on the hot path for every patient message and must cost
   * microseconds for a message of a few hundred characters. Never throws for any string input.
   */
  screen(text: string): RiskResult;
}

/** Orders levels for choosing the most serious of several hits: a larger number is more serious. */
export function riskLevelRank(level: RiskLevel): number {
  return level === 'high' ? 2 : 1;
}
