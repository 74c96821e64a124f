/**
 * The maintained phrase list behind the default risk screen: its format, and its validation at load. The shipped list
 * is `phrases.json` beside this file; docs/risk-screening.md says how to maintain it.
 *
 * ```json
 * {
 *   "version": "2025-01-15",
 *   "language": "en",
 *   "entries": [
 *     { "id": "suicide.intent", "category": "suicide", "level": "high",
 *       "patterns": ["kill myself", "end my life"], "note": "why this entry exists (optional)" }
 *   ]
 * }
 * ```
 *
 * Patterns are plain phrases, not regular expressions: they are normalised like the messages they are matched against
 * (see `risk-tokens.ts`), so `I'm`, `im` and `I am` need not be listed separately.
 */
import fs from 'node:fs';
import { RiskDataError } from './risk-data-error.js';
import {
  MAX_CLASSIFIER_CHARS,
  MAX_MATCHED_CHARS,
  RISK_CATEGORIES,
  RISK_LEVELS,
  type RiskCategory,
  type RiskLevel,
} from './risk-screen.js';
import { riskTokens } from './risk-tokens.js';

export interface PhraseEntry {
  /**
   * Stable and unique; it is what alerts and audit events record as `matched`. Lower case, `a-z0-9`, `.` and `-`, at
   * most MAX_ID_CHARS.
   */
  readonly id: string;
  readonly category: RiskCategory;
  readonly level: RiskLevel;
  /** One or more plain phrases. */
  readonly patterns: readonly string[];
  /** For reviewers: why the entry exists, what it is meant to catch. Not used by the screen. */
  readonly note?: string;
}

export interface PhraseList {
  /**
   * The list's version (e.g. the date of its last review); reported as part of `RiskScreen.classifier`. Lower case,
   * `a-z0-9`, `.`, `_` and `-`, at most MAX_VERSION_CHARS.
   */
  readonly version: string;
  /** Only `en` is supported: the normalisation and the contractions are English. */
  readonly language: 'en';
  readonly entries: readonly PhraseEntry[];
}

/** Longest pattern, in characters; a phrase list holds phrases, not paragraphs. */
export const MAX_PATTERN_CHARS = 200;
/** Longest pattern, in normalised tokens. */
export const MAX_PATTERN_TOKENS = 12;
const ID_FORMAT = /^[a-z0-9]+(?:[.-][a-z0-9]+)*$/;
/** Longest id: ids are `RiskHit.matched`, which has its own limit. */
export const MAX_ID_CHARS = MAX_MATCHED_CHARS;
const VERSION_FORMAT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** Longest version: `phrase-list@<version>` is `RiskScreen.classifier`, which has its own limit. */
export const MAX_VERSION_CHARS = MAX_CLASSIFIER_CHARS - 'phrase-list@'.length;
const LIST_KEYS: ReadonlySet<string> = new Set(['version', 'language', 'entries']);
const ENTRY_KEYS: ReadonlySet<string> = new Set(['id', 'category', 'level', 'patterns', 'note']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

/**
 * Validates a parsed phrase list. `source` names it in errors (a file path). Checks, each failing with a message that
 * names the entry: the shape and unknown keys (a typo such as `pattern` would otherwise drop phrases silently);
 * unique ids; known categories and levels; non-empty patterns that still have words after normalisation; no pattern
 * repeated, within an entry or across entries, after normalisation.
 * @throws RiskDataError
 */
export function parsePhraseList(data: unknown, source: string): PhraseList {
  const fail = (what: string): never => {
    throw new RiskDataError(`phrase list ${source}: ${what}`);
  };
  if (!isRecord(data)) return fail('expected a JSON object with version, language and entries');
  for (const key of Object.keys(data)) if (!LIST_KEYS.has(key)) fail(`unknown top-level key ${JSON.stringify(key)}`);
  const { version, language, entries } = data;
  if (typeof version !== 'string' || !VERSION_FORMAT.test(version) || version.length > MAX_VERSION_CHARS) {
    fail(
      `version must be lower case letters and digits, separated by ".", "_" or "-", at most ${MAX_VERSION_CHARS} characters (e.g. "2025-01-15")`,
    );
  }
  if (language !== 'en') fail(`language must be "en" (got ${JSON.stringify(language)}); only English is supported`);
  if (!Array.isArray(entries) || entries.length === 0) return fail('entries must be a non-empty array');

  const ids = new Set<string>();
  /** normalised pattern → where it was first seen */
  const seen = new Map<string, string>();
  const parsed: PhraseEntry[] = [];
  entries.forEach((entry: unknown, index) => {
    const where =
      isRecord(entry) && typeof entry.id === 'string' ? `entries[${index}] (id "${entry.id}")` : `entries[${index}]`;
    const bad = (what: string): never => fail(`${where}: ${what}`);
    if (!isRecord(entry)) return bad('expected an object with id, category, level and patterns');
    for (const key of Object.keys(entry)) if (!ENTRY_KEYS.has(key)) bad(`unknown key ${JSON.stringify(key)}`);
    const { id, category, level, patterns, note } = entry;
    if (typeof id !== 'string' || !ID_FORMAT.test(id) || id.length > MAX_ID_CHARS) {
      return bad(
        `id must be lower case letters and digits, separated by "." or "-", at most ${MAX_ID_CHARS} characters (e.g. "suicide.intent")`,
      );
    }
    if (ids.has(id)) bad(`duplicate id "${id}"`);
    ids.add(id);
    if (!oneOf(RISK_CATEGORIES, category)) {
      return bad(`unknown category ${JSON.stringify(category)}; expected one of ${RISK_CATEGORIES.join(', ')}`);
    }
    if (!oneOf(RISK_LEVELS, level)) {
      return bad(`unknown level ${JSON.stringify(level)}; expected one of ${RISK_LEVELS.join(', ')}`);
    }
    if (note !== undefined && typeof note !== 'string') bad('note must be a string when present');
    if (!Array.isArray(patterns) || patterns.length === 0) return bad('patterns must be a non-empty array of phrases');
    const phrases: string[] = [];
    patterns.forEach((pattern: unknown, p) => {
      if (typeof pattern !== 'string' || pattern.trim() === '') bad(`patterns[${p}] is empty or not a string`);
      const phrase = pattern as string;
      if (phrase.length > MAX_PATTERN_CHARS) bad(`patterns[${p}] is longer than ${MAX_PATTERN_CHARS} characters`);
      const tokens = riskTokens(phrase);
      if (tokens.length === 0) bad(`patterns[${p}] ${JSON.stringify(phrase)} has no words after normalisation`);
      if (tokens.length > MAX_PATTERN_TOKENS) bad(`patterns[${p}] has more than ${MAX_PATTERN_TOKENS} words`);
      const key = tokens.join(' ');
      const first = seen.get(key);
      if (first !== undefined) {
        bad(`patterns[${p}] ${JSON.stringify(phrase)} is the same, once normalised ("${key}"), as ${first}`);
      }
      seen.set(key, `${where} patterns[${p}]`);
      phrases.push(phrase);
    });
    parsed.push({ id, category, level, patterns: phrases, ...(note === undefined ? {} : { note: note as string }) });
  });
  return { version: version as string, language: 'en', entries: parsed };
}

/**
 * Reads and validates a phrase list file.
 * @throws RiskDataError when the file cannot be read, is not JSON or is invalid.
 */
export function readPhraseList(file: string): PhraseList {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskDataError(`phrase list ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new RiskDataError(`phrase list ${file}: not valid JSON (${(err as Error).message})`);
  }
  return parsePhraseList(data, file);
}
