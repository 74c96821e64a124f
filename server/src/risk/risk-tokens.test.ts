import { describe, expect, it } from 'vitest';
import { riskTokens } from './risk-tokens.js';

describe('riskTokens', () => {
  const cases: [string, string, string[]][] = [
    ['empty', '', []],
    ['only punctuation and space', ' ...!? \n\t ', []],
    ['case and punctuation', 'Hello, WORLD!', ['helo', 'world']],
    ['whitespace of all kinds', 'a\tb\nc\u00a0d\u2003e', ['abcde']],
    ['straight apostrophe', "I'm", ['i', 'am']],
    ['curly apostrophe', 'I’m', ['i', 'am']],
    ['left quote as apostrophe', 'I‘m', ['i', 'am']],
    ['modifier letter apostrophe', 'Iʼm', ['i', 'am']],
    ['backtick', 'I`m', ['i', 'am']],
    ['prime', 'I′m', ['i', 'am']],
    ['fullwidth apostrophe', 'I＇m', ['i', 'am']],
    ['no apostrophe', 'im', ['i', 'am']],
    ["don't / dont / do not", "don't dont do not", ['do', 'not', 'do', 'not', 'do', 'not']],
    ["can't / cannot", "can't cannot", ['can', 'not', 'can', 'not']],
    ['elongated contraction', 'immmm', ['i', 'am']],
    ['gonna / wanna', 'gonna wanna', ['going', 'to', 'want', 'to']],
    ['u', 'u', ['you']],
    ['elongation', 'sooooo tiiiired', ['so', 'tired']],
    ['doubles collapse too', 'kill all off', ['kil', 'al', 'of']],
    [
      'leet inside a word',
      'k1ll d13 w@nt $ad 5ad no7e m0m h4te',
      ['kil', 'die', 'want', 'sad', 'sad', 'note', 'mom', 'hate'],
    ],
    [
      'bare numbers stay numbers',
      'I slept 4 hours, from 1 to 5 at 10',
      ['i', 'slept', '4', 'hours', 'from', '1', 'to', '5', 'at', '10'],
    ],
    ['NFKD accents', 'Café naïve señor', ['cafe', 'naive', 'senor']],
    ['fullwidth', 'ＫＩＬＬ', ['kil']],
    ['ligature', 'oﬀ', ['of']],
    ['mathematical letters', '𝐤𝐢𝐥𝐥 𝓂𝓎𝓈ℯ𝓁𝒻', ['kil', 'myself']],
    ['zero-width characters', 'k\u200bi\u200cl\u200dl\u2060 \ufeffme', ['kil', 'me']],
    ['soft hyphen', 'self\u00adharm', ['selfharm']],
    ['direction marks', 'ha\u200erm\u200f', ['harm']],
    ['spaced letters', 'k i l l me', ['kil', 'me']],
    ['dotted letters', 's.u.i.c.i.d.e', ['suicide']],
    ['two single letters stay apart', 'i a b2b', ['i', 'a', 'b2b']],
    ['split compounds', 'my self any more some one', ['myself', 'anymore', 'someone']],
    ['no one stays two words', 'no one', ['no', 'one']],
    ['other scripts stay whole words', 'привет kill 数字', ['привет', 'kil', '数字']],
    ['a foreign letter inside a word keeps it one token', 'кill', ['кil']],
    ['emoji separate words', 'sad😢face', ['sad', 'face']],
  ];
  it.each(cases)('%s', (_what, text, expected) => {
    expect(riskTokens(text)).toEqual(expected);
  });

  it('gives the same tokens for a phrase and its variants', () => {
    const plain = riskTokens("I don't want to be here anymore");
    for (const variant of [
      'I DON’T want to be here any more!!!',
      'i dont   wanna be here anymoreeee',
      'I do not want to be h3r3 any more',
      'I\u200b don\u00adt want to bé here anymore',
    ]) {
      expect(riskTokens(variant), variant).toEqual(plain);
    }
  });

  it('does not throw on lone surrogates or control characters', () => {
    expect(riskTokens('\ud800 kill \udfff \u0000me')).toEqual(['kil', 'me']);
  });
});
