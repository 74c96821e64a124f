import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PATTERN_CHARS, parsePhraseList, readPhraseList } from './phrase-list.js';
import { PhraseListScreen, shippedPhraseListFile } from './phrase-list-screen.js';
import { RiskDataError } from './risk-data-error.js';

type Json = Record<string, unknown>;

const entry = (over: Json = {}): Json => ({
  id: 'test.one',
  category: 'suicide',
  level: 'high',
  patterns: ['blue door'],
  ...over,
});
const list = (entries: unknown[], over: Json = {}): Json => ({
  version: '2025-01-01',
  language: 'en',
  entries,
  ...over,
});

function errorOf(data: unknown): RiskDataError {
  try {
    parsePhraseList(data, 'test.json');
  } catch (err) {
    expect(err).toBeInstanceOf(RiskDataError);
    return err as RiskDataError;
  }
  throw new Error('expected parsePhraseList to throw');
}

describe('parsePhraseList', () => {
  it('accepts a valid list and keeps its entries', () => {
    const parsed = parsePhraseList(
      list([entry(), entry({ id: 'test.two', category: 'abuse', level: 'medium', patterns: ['a', 'b c'], note: 'n' })]),
      'test.json',
    );
    expect(parsed).toEqual({
      version: '2025-01-01',
      language: 'en',
      entries: [
        { id: 'test.one', category: 'suicide', level: 'high', patterns: ['blue door'] },
        { id: 'test.two', category: 'abuse', level: 'medium', patterns: ['a', 'b c'], note: 'n' },
      ],
    });
  });

  it('accepts an id and a version at their longest', () => {
    const parsed = parsePhraseList(list([entry({ id: 'x'.repeat(48) })], { version: 'v'.repeat(35) }), 'test.json');
    expect(parsed.entries[0]!.id).toHaveLength(48);
    expect(new PhraseListScreen(parsed).classifier).toHaveLength(47);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['not an object', [], /^phrase list test\.json: expected a JSON object/],
    ['unknown top-level key', list([entry()], { entry: [] }), /unknown top-level key "entry"/],
    ['missing version', list([entry()], { version: undefined }), /version must be/],
    ['version with spaces', list([entry()], { version: 'v 1' }), /version must be/],
    ['version in upper case', list([entry()], { version: 'V1' }), /version must be/],
    ['version too long', list([entry()], { version: 'v'.repeat(36) }), /version must be .*at most 35 characters/],
    ['another language', list([entry()], { language: 'fr' }), /language must be "en" \(got "fr"\)/],
    ['no entries', list([]), /entries must be a non-empty array/],
    ['entries not an array', list([], { entries: {} }), /entries must be a non-empty array/],
    ['entry not an object', list([entry(), 'kill'], {}), /entries\[1\]: expected an object/],
    ['unknown entry key', list([entry({ pattern: ['x'] })]), /entries\[0\] \(id "test\.one"\): unknown key "pattern"/],
    ['missing id', list([entry({ id: undefined })]), /entries\[0\]: id must be/],
    ['badly formed id', list([entry({ id: 'Suicide Intent' })]), /entries\[0\] \(id "Suicide Intent"\): id must be/],
    ['id too long', list([entry({ id: 'x'.repeat(49) })]), /id must be .*at most 48 characters/],
    [
      'duplicate id',
      list([entry(), entry({ patterns: ['red door'] })]),
      /entries\[1\] \(id "test\.one"\): duplicate id "test\.one"/,
    ],
    [
      'unknown category',
      list([entry({ category: 'suicde' })]),
      /entries\[0\] \(id "test\.one"\): unknown category "suicde"; expected one of suicide, self-harm, harm-to-others, abuse/,
    ],
    ['missing category', list([entry({ category: undefined })]), /unknown category undefined/],
    [
      'unknown level',
      list([entry({ level: 'critical' })]),
      /entries\[0\] \(id "test\.one"\): unknown level "critical"; expected one of high, medium/,
    ],
    ['note not a string', list([entry({ note: 3 })]), /note must be a string/],
    ['no patterns key', list([entry({ patterns: undefined })]), /patterns must be a non-empty array/],
    ['patterns not an array', list([entry({ patterns: 'kill myself' })]), /patterns must be a non-empty array/],
    ['empty patterns', list([entry({ patterns: [] })]), /\(id "test\.one"\): patterns must be a non-empty array/],
    [
      'empty pattern',
      list([entry({ patterns: ['ok', ''] })]),
      /\(id "test\.one"\): patterns\[1\] is empty or not a string/,
    ],
    ['blank pattern', list([entry({ patterns: ['   '] })]), /patterns\[0\] is empty or not a string/],
    ['pattern not a string', list([entry({ patterns: [7] })]), /patterns\[0\] is empty or not a string/],
    ['pattern with no words', list([entry({ patterns: ['?!...'] })]), /patterns\[0\] "\?!\.\.\." has no words/],
    [
      'pattern too long',
      list([entry({ patterns: ['x'.repeat(MAX_PATTERN_CHARS + 1)] })]),
      /patterns\[0\] is longer than 200 characters/,
    ],
    ['pattern with too many words', list([entry({ patterns: ['word '.repeat(13).trim()] })]), /more than 12 words/],
    [
      'duplicate pattern within an entry, after normalisation',
      list([entry({ patterns: ["I'm done", 'i am DONE'] })]),
      /entries\[0\] \(id "test\.one"\): patterns\[1\] "i am DONE" is the same, once normalised \("i am done"\), as entries\[0\] \(id "test\.one"\) patterns\[0\]/,
    ],
    [
      'duplicate pattern across entries, after normalisation',
      list([entry(), entry({ id: 'test.two', patterns: ['BLUE-DOOR'] })]),
      /entries\[1\] \(id "test\.two"\): patterns\[0\] "BLUE-DOOR" is the same.*as entries\[0\] \(id "test\.one"\) patterns\[0\]/,
    ],
  ];
  it.each(invalid)('refuses %s', (_what, data, message) => {
    expect(errorOf(data).message).toMatch(message);
  });
});

describe('readPhraseList', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'phrase-list-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads the shipped list', () => {
    const file = shippedPhraseListFile();
    expect(path.basename(file)).toBe('phrases.json');
    expect(readPhraseList(file).entries.length).toBeGreaterThan(10);
  });

  it('names a missing file', () => {
    const file = path.join(dir, 'missing.json');
    expect(() => readPhraseList(file)).toThrow(new RiskDataError(`phrase list ${file}: cannot read it (ENOENT)`));
  });

  it('names a file that is not JSON', () => {
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{ "version": ');
    expect(() => readPhraseList(file)).toThrow(/^phrase list .*broken\.json: not valid JSON/);
  });

  it('refuses an invalid list when building a screen from a file', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify(list([entry(), entry()])));
    expect(() => PhraseListScreen.fromFile(file)).toThrow(RiskDataError);
    expect(() => PhraseListScreen.fromFile(file)).toThrow(/bad\.json: entries\[1\] \(id "test\.one"\): duplicate id/);
  });

  it('builds a screen from a valid file', () => {
    const file = path.join(dir, 'good.json');
    fs.writeFileSync(file, JSON.stringify(list([entry()], { version: 'local-3' })));
    const screen = PhraseListScreen.fromFile(file);
    expect(screen.classifier).toBe('phrase-list@local-3');
    expect(screen.screen('the Blue Door')).toEqual({
      hit: true,
      level: 'high',
      category: 'suicide',
      matched: 'test.one',
    });
  });
});
