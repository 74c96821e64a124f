/**
 * Message texts: neutral, made-up sentences (no phrase a risk screen would flag), pre-generated into pools so that
 * the generator spends no time building strings while it runs.
 */

const WORDS = (
  'i think the week was a bit better than last time we talked about sleep and work the morning walk helped ' +
  'wrote some notes tried the breathing exercise felt calmer after that some days are harder than others ' +
  'thank you that makes sense what happened next could we go over the plan again noticed small steps ' +
  'it was helpful to see it written down okay let us look at thursday and how the evening went'
).split(' ');

/** A deterministic pseudo-random generator (mulberry32), so runs are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sentence of exactly `length` characters. */
export function sentence(length: number, random: () => number): string {
  let s = '';
  while (s.length < length) {
    const w = WORDS[Math.floor(random() * WORDS.length)]!;
    s += s.length === 0 ? w[0]!.toUpperCase() + w.slice(1) : ` ${w}`;
  }
  s = s.slice(0, length);
  return length > 1
    ? `${s
        .slice(0, -1)
        .trimEnd()
        .padEnd(length - 1, 'a')}.`
    : s;
}

/**
 * Realistic lengths of typed therapy chat: most messages are short, some are long. Log-normal with a median of 60
 * characters, clamped to 2–1,500 (about 4% are over 300).
 */
export function realisticLength(random: () => number): number {
  const u1 = Math.max(random(), 1e-12);
  const u2 = random();
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.max(2, Math.min(1500, Math.round(Math.exp(Math.log(60) + 0.9 * normal))));
}

/** A pool of texts: `length` characters each, or the realistic mix when `length` is 0. */
export function textPool(length: number, size: number, seed = 1): string[] {
  const random = rng(seed);
  return Array.from({ length: size }, () => sentence(length > 0 ? length : realisticLength(random), random));
}
