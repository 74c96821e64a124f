/**
 * The default risk screen: a maintained list of phrases (`phrases.json`), compiled once into a token automaton.
 * Screening a message normalises it once (`risk-tokens.ts`) and walks the automaton once.
 *
 * Negation is deliberately not handled: "I would never kill myself" is a hit. A false alarm costs a therapist a
 * moment; a miss can cost a life. Nor is context: "I could kill him for that" is a hit too. See
 * docs/risk-screening.md for the known limits.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readPhraseList, type PhraseList } from './phrase-list.js';
import { RiskDataError } from './risk-data-error.js';
import { riskLevelRank, NO_RISK, type RiskHit, type RiskResult, type RiskScreen } from './risk-screen.js';
import { riskTokens } from './risk-tokens.js';
import { TokenAutomaton } from './token-automaton.js';

/**
 * Where the shipped list is looked for: beside this module, then (when running the build in `dist/risk/`) in the
 * sources. A deployment that ships only `dist/` must copy `phrases.json` there, or pass a path.
 */
const SHIPPED_LIST_CANDIDATES: readonly URL[] = [
  new URL('./phrases.json', import.meta.url),
  new URL('../../src/risk/phrases.json', import.meta.url),
];

/**
 * The path of the shipped phrase list.
 * @throws RiskDataError when it is in none of the places looked at.
 */
export function shippedPhraseListFile(): string {
  for (const candidate of SHIPPED_LIST_CANDIDATES) {
    const file = fileURLToPath(candidate);
    if (fs.existsSync(file)) return file;
  }
  throw new RiskDataError(
    `the shipped phrase list was not found (looked in ${SHIPPED_LIST_CANDIDATES.map((u) => fileURLToPath(u)).join(' and ')}); copy server/src/risk/phrases.json beside the built phrase-list-screen.js or pass a path`,
  );
}

export class PhraseListScreen implements RiskScreen {
  readonly classifier: string;
  private readonly automaton: TokenAutomaton<RiskHit>;

  /** Compiles a validated list (see `parsePhraseList`). */
  constructor(readonly list: PhraseList) {
    this.classifier = `phrase-list@${list.version}`;
    const patterns: [string[], RiskHit][] = [];
    for (const entry of list.entries) {
      // One frozen result per entry, shared by every hit: nothing is allocated per message, and nothing from the
      // message can end up in it.
      const hit: RiskHit = Object.freeze({
        hit: true,
        level: entry.level,
        category: entry.category,
        matched: entry.id,
      });
      for (const pattern of entry.patterns) patterns.push([riskTokens(pattern), hit]);
    }
    this.automaton = new TokenAutomaton(patterns, (hit) => riskLevelRank(hit.level));
  }

  /**
   * Loads, validates and compiles a phrase list file; by default the shipped one.
   * @throws RiskDataError naming the file and entry when the list is unreadable or invalid.
   */
  static fromFile(file: string = shippedPhraseListFile()): PhraseListScreen {
    return new PhraseListScreen(readPhraseList(file));
  }

  /** The most serious entry that matches (`high` before `medium`, then the earliest in the text), or no risk. */
  screen(text: string): RiskResult {
    return this.automaton.bestMatch(riskTokens(text)) ?? NO_RISK;
  }
}
