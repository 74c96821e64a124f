/** The contract every RiskScreen implementation passes. */
import { describe, expect, it } from 'vitest';
import {
  MAX_CLASSIFIER_CHARS,
  MAX_MATCHED_CHARS,
  RISK_CATEGORIES,
  RISK_CODE_FORMAT,
  RISK_LEVELS,
  type RiskResult,
  type RiskScreen,
} from './risk-screen.js';

export interface RiskScreenContractSamples {
  /** A message this screen must flag. */
  readonly hit: string;
  /** An ordinary message this screen must not flag. */
  readonly clean: string;
}

/** A word no classifier would output by itself: if it shows up in a result, the result copied the patient's text. */
const CANARY = 'zqxvcanaryjkw';

export function describeRiskScreenContract(
  name: string,
  factory: () => RiskScreen,
  samples: RiskScreenContractSamples,
): void {
  describe(`RiskScreen contract: ${name}`, () => {
    const screen = factory();

    function expectValid(result: RiskResult): void {
      expect(typeof result).toBe('object');
      // A thenable here would mean an asynchronous screen on the hot path.
      expect('then' in result).toBe(false);
      if (!result.hit) {
        expect(result).toEqual({ hit: false });
        return;
      }
      expect(Object.keys(result).sort()).toEqual(['category', 'hit', 'level', 'matched']);
      expect(RISK_LEVELS).toContain(result.level);
      expect(RISK_CATEGORIES).toContain(result.category);
      expect(result.matched).toMatch(RISK_CODE_FORMAT);
      expect(result.matched.length).toBeLessThanOrEqual(MAX_MATCHED_CHARS);
    }

    it('names its classifier without any sample text', () => {
      expect(screen.classifier).toMatch(RISK_CODE_FORMAT);
      expect(screen.classifier.length).toBeLessThanOrEqual(MAX_CLASSIFIER_CHARS);
      expect(screen.classifier).not.toContain(samples.hit);
    });

    it('flags the hit sample and not the clean one', () => {
      const hit = screen.screen(samples.hit);
      expectValid(hit);
      expect(hit.hit).toBe(true);
      const clean = screen.screen(samples.clean);
      expect(clean).toEqual({ hit: false });
    });

    it('never copies the text into the result', () => {
      for (const text of [`${samples.hit} ${CANARY}`, `${CANARY} ${samples.hit}`, `${CANARY}${samples.hit}`]) {
        const result = screen.screen(text);
        expectValid(result);
        expect(JSON.stringify(result)).not.toContain(CANARY);
        if (result.hit) expect(samples.hit).not.toContain(result.matched);
      }
      expect(screen.screen(`${samples.hit} ${CANARY}`).hit).toBe(true);
    });

    it('is deterministic', () => {
      expect(screen.screen(samples.hit)).toEqual(screen.screen(samples.hit));
      expect(screen.screen(samples.clean)).toEqual(screen.screen(samples.clean));
    });

    it('answers, without throwing, for any string', () => {
      const odd = [
        '',
        ' ',
        '\n\t\r',
        '\u0000\u0007',
        '\ud800',
        '\udfff lone low surrogate',
        '🙂🙂🙂',
        '٠١٢٣',
        'שלום',
        '数字',
        'x'.repeat(100_000),
        `${'word '.repeat(20_000)}${samples.hit}`,
      ];
      for (const text of odd) expectValid(screen.screen(text));
      expect(screen.screen(`${'word '.repeat(20_000)}${samples.hit}`).hit).toBe(true);
    });

    it('cannot be changed by a caller that alters a result', () => {
      const first = screen.screen(samples.hit);
      try {
        (first as { matched: string }).matched = CANARY;
      } catch {
        // Frozen: the write throws in strict mode, which is one way to pass.
      }
      const again = screen.screen(samples.hit);
      expect(JSON.stringify(again)).not.toContain(CANARY);
      const none = screen.screen(samples.clean);
      try {
        (none as { hit: boolean }).hit = true;
      } catch {
        // Frozen, as above.
      }
      expect(screen.screen(samples.clean)).toEqual({ hit: false });
    });
  });
}
