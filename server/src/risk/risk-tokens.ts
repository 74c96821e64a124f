/**
 * Normalises text into the tokens that risk phrases are matched against. Patterns and messages go through the same
 * function, so a phrase written plainly in the list also catches the spellings a person in distress types:
 *
 * - case, punctuation and whitespace: tokens are runs of letters and digits; everything else separates them;
 * - apostrophes of every kind (’ ‘ ʼ ` ´ ′ ＇) are dropped, and common contractions are expanded, so `I'm`, `I’m`,
 *   `im` and `I am` all become `i am`, and `don't`, `dont`, `do not` become `do not`;
 * - accents and compatibility forms (NFKD, then combining marks removed): `kíll`, fullwidth `ｋｉｌｌ` and
 *   mathematical `𝐤𝐢𝐥𝐥` become `kill`;
 * - invisible format characters (zero-width space and joiners, soft hyphen, BOM, direction marks) are removed;
 * - simple leetspeak inside a word that has letters: 0→o 1→i 3→e 4→a 5→s 7→t @→a $→s (a bare number stays a number);
 * - letters spaced out (`k i l l`, `s.u.i.c.i.d.e`): three or more one-character tokens in a row are joined;
 * - elongation: every run of a repeated letter becomes one letter (`sooo`→`so`, and also `kill`→`kil`; both sides are
 *   reduced alike, so matching is unaffected);
 * - a few split compounds are joined: `my self`→`myself`, `any more`→`anymore`, `some one`→`someone`. (Not `no one`:
 *   collapsed, `noone` would be `none`.)
 *
 * Matching whole tokens is what gives word boundaries: `skill myself` has the token `skil`, not `kil`.
 */

/** Invisible format characters and apostrophes; removed before anything else (´ would decompose into a space). */
const DROP_RAW = /[\p{Cf}'’‘ʼʻ`´′＇]/gu;
const COMBINING_MARKS = /\p{M}/gu;
/** Text that needs no Unicode normalisation: printable ASCII and the usual whitespace. */
const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;
const ASCII_TOKEN = /[a-z0-9@$]+/g;
/** Outside ASCII, any letter or digit is part of a word, so that a word in another script is one unknown token. */
const UNICODE_TOKEN = /[\p{L}\p{N}@$]+/gu;
const LEET_MAP: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
};
const LEET = /[013457@$]/g;
const REPEATED_LETTER = /([a-z])\1+/g;
const CODE_A = 0x61;
const CODE_Z = 0x7a;
/** Fewer one-character tokens in a row than this are left alone: `i`, `a` and `u` are words. */
const MIN_SPACED_LETTERS = 3;

function isLetter(code: number): boolean {
  return code >= CODE_A && code <= CODE_Z;
}

function isLeet(code: number): boolean {
  // 0 1 3 4 5 7 @ $
  return (
    code === 0x30 || code === 0x31 || (code >= 0x33 && code <= 0x35) || code === 0x37 || code === 0x40 || code === 0x24
  );
}

/**
 * Scans before it builds, as `unLeet` does: most words need no change, and a scan costs far less than a regular
 * expression replace, on a path that runs for every word of every patient message.
 */
function collapse(word: string): string {
  for (let i = 1; i < word.length; i++) {
    const code = word.charCodeAt(i);
    if (code === word.charCodeAt(i - 1) && isLetter(code)) return word.replace(REPEATED_LETTER, '$1');
  }
  return word;
}

/**
 * Contractions as typed without the apostrophe (it is dropped first). Ambiguous ones are included where a miss would
 * cost more than a stray token (`ill` is also "unwell", `id` an identifier: expanding them only matters if a phrase
 * contains the expansion). `were`, `well`, `hell`, `shell`, `wed` and `lets` are left alone: they are common words.
 */
const CONTRACTIONS: Readonly<Record<string, string>> = {
  im: 'i am',
  ive: 'i have',
  ill: 'i will',
  id: 'i would',
  youre: 'you are',
  youve: 'you have',
  youll: 'you will',
  hes: 'he is',
  shes: 'she is',
  its: 'it is',
  theyre: 'they are',
  theyve: 'they have',
  thats: 'that is',
  whats: 'what is',
  theres: 'there is',
  dont: 'do not',
  doesnt: 'does not',
  didnt: 'did not',
  cant: 'can not',
  cannot: 'can not',
  couldnt: 'could not',
  wont: 'will not',
  wouldnt: 'would not',
  shouldnt: 'should not',
  isnt: 'is not',
  arent: 'are not',
  wasnt: 'was not',
  werent: 'were not',
  havent: 'have not',
  hasnt: 'has not',
  hadnt: 'had not',
  aint: 'am not',
  gonna: 'going to',
  wanna: 'want to',
  gotta: 'got to',
  u: 'you',
};

const COMPOUNDS: readonly (readonly [string, string, string])[] = [
  ['my', 'self', 'myself'],
  ['your', 'self', 'yourself'],
  ['him', 'self', 'himself'],
  ['her', 'self', 'herself'],
  ['them', 'selves', 'themselves'],
  ['any', 'more', 'anymore'],
  ['some', 'one', 'someone'],
  ['some', 'body', 'somebody'],
  ['every', 'one', 'everyone'],
  ['every', 'body', 'everybody'],
];

/** Keyed by the collapsed spelling, since expansion runs after collapsing (`immm` is `im`). */
const EXPANSIONS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries(CONTRACTIONS).map(([short, long]) => [collapse(short), long.split(' ').map(collapse)]),
);

/** first token → second token → joined, all collapsed. */
const COMPOUND_MAP: ReadonlyMap<string, ReadonlyMap<string, string>> = (() => {
  const map = new Map<string, Map<string, string>>();
  for (const [a, b, joined] of COMPOUNDS) {
    const first = collapse(a);
    let seconds = map.get(first);
    if (!seconds) map.set(first, (seconds = new Map<string, string>()));
    seconds.set(collapse(b), collapse(joined));
  }
  return map;
})();

function rawTokens(text: string): string[] {
  let s = text.replace(DROP_RAW, '');
  if (PLAIN_ASCII.test(s)) return s.toLowerCase().match(ASCII_TOKEN) ?? [];
  s = s.normalize('NFKD').toLowerCase().replace(COMBINING_MARKS, '');
  return s.match(UNICODE_TOKEN) ?? [];
}

/** Joins runs of at least MIN_SPACED_LETTERS one-character tokens (`k i l l` → `kill`). */
function joinSpacedLetters(tokens: string[]): string[] {
  let i = 0;
  while (i < tokens.length && tokens[i]!.length !== 1) i++;
  if (i === tokens.length) return tokens;
  const out: string[] = tokens.slice(0, i);
  while (i < tokens.length) {
    let j = i;
    while (j < tokens.length && tokens[j]!.length === 1) j++;
    if (j - i >= MIN_SPACED_LETTERS) {
      out.push(tokens.slice(i, j).join(''));
      i = j;
    } else {
      out.push(tokens[i]!);
      i++;
    }
  }
  return out;
}

function unLeet(token: string): string {
  let letter = false;
  let leet = false;
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    if (isLetter(code)) letter = true;
    else if (isLeet(code)) leet = true;
  }
  return letter && leet ? token.replace(LEET, (c) => LEET_MAP[c] ?? c) : token;
}

/**
 * The normalised tokens of `text`. Deterministic and total: any string, including the empty string and lone
 * surrogates, gives an array (possibly empty).
 */
export function riskTokens(text: string): string[] {
  const raw = joinSpacedLetters(rawTokens(text));
  const out: string[] = [];
  for (const token of raw) {
    const word = collapse(unLeet(token));
    const expansion = EXPANSIONS.get(word);
    if (expansion) {
      for (const part of expansion) out.push(part);
      continue;
    }
    const prev = out.length > 0 ? out[out.length - 1]! : undefined;
    const joined = prev === undefined ? undefined : COMPOUND_MAP.get(prev)?.get(word);
    if (joined !== undefined) out[out.length - 1] = joined;
    else out.push(word);
  }
  return out;
}
