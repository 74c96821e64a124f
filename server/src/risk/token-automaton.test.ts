import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenAutomaton } from './token-automaton.js';

interface Value {
  readonly name: string;
  readonly rank: number;
}

const build = (patterns: [string, number][]) =>
  new TokenAutomaton<Value>(
    patterns.map(([p, rank]) => [p.split(' '), { name: p, rank }] as const),
    (v) => v.rank,
  );

const find = (a: TokenAutomaton<Value>, text: string) => a.bestMatch(text === '' ? [] : text.split(' '))?.name;

describe('TokenAutomaton', () => {
  it('finds a pattern anywhere, on whole tokens only', () => {
    const a = build([['b c', 1]]);
    expect(find(a, 'a b c d')).toBe('b c');
    expect(find(a, 'b c')).toBe('b c');
    expect(find(a, 'a b x c')).toBeUndefined();
    expect(find(a, 'bb c')).toBeUndefined();
    expect(find(a, '')).toBeUndefined();
  });

  it('follows failure links after a partial match', () => {
    // `a b a b c`: the first `a b` fails at `a`; the automaton must resume inside it.
    const a = build([['a b c', 1]]);
    expect(find(a, 'a b a b c')).toBe('a b c');
    expect(find(a, 'a a b c')).toBe('a b c');
  });

  it('finds a pattern that is a suffix of a longer partial one', () => {
    const a = build([
      ['x y z w', 1],
      ['y z', 1],
    ]);
    expect(find(a, 'x y z q')).toBe('y z');
  });

  it('prefers the higher rank wherever it is', () => {
    const a = build([
      ['low', 1],
      ['high', 2],
    ]);
    expect(find(a, 'low then high')).toBe('high');
    expect(find(a, 'high then low')).toBe('high');
  });

  it('among equal ranks, reports the one that ends first', () => {
    const a = build([
      ['p', 1],
      ['q', 1],
    ]);
    expect(find(a, 'q p')).toBe('q');
    expect(find(a, 'p q')).toBe('p');
  });

  it('when two patterns end at the same token, reports the higher rank, then the one listed first', () => {
    expect(
      find(
        build([
          ['b c', 1],
          ['a b c', 2],
        ]),
        'a b c',
      ),
    ).toBe('a b c');
    expect(
      find(
        build([
          ['a b c', 1],
          ['b c', 2],
        ]),
        'a b c',
      ),
    ).toBe('b c');
    expect(
      find(
        build([
          ['b c', 1],
          ['a b c', 1],
        ]),
        'a b c',
      ),
    ).toBe('b c');
  });

  it('refuses an empty pattern', () => {
    expect(() => new TokenAutomaton([[[], 1]], () => 1)).toThrow(/at least one token/);
  });

  it('agrees with a brute-force search on random input', () => {
    const token = fc.constantFrom('a', 'b', 'c', 'd');
    const pattern = fc.tuple(fc.array(token, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 3 }));
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 8 }), fc.array(token, { maxLength: 30 }), (ps, text) => {
        const values = ps.map(([tokens, rank], i) => ({ name: `${i}`, rank, tokens }));
        const automaton = new TokenAutomaton(
          values.map((v) => [v.tokens, v] as const),
          (v) => v.rank,
        );
        // Reference: scan end positions left to right; at each, the best (rank, then list order) pattern ending there;
        // keep it only if its rank beats what was found before.
        let expected: (typeof values)[number] | undefined;
        for (let end = 1; end <= text.length; end++) {
          let here: (typeof values)[number] | undefined;
          for (const v of values) {
            const start = end - v.tokens.length;
            if (start < 0 || v.tokens.some((t, k) => text[start + k] !== t)) continue;
            if (here === undefined || v.rank > here.rank) here = v;
          }
          if (here !== undefined && (expected === undefined || here.rank > expected.rank)) expected = here;
        }
        expect(automaton.bestMatch(text)?.name).toBe(expected?.name);
      }),
      { numRuns: 500 },
    );
  });
});
