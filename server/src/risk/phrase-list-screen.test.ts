import { describe, expect, it } from 'vitest';
import { parsePhraseList, readPhraseList } from './phrase-list.js';
import { PhraseListScreen, shippedPhraseListFile } from './phrase-list-screen.js';
import { describeRiskScreenContract } from './risk-screen.contract.js';
import { riskLevelRank, type RiskCategory, type RiskLevel } from './risk-screen.js';

const screen = PhraseListScreen.fromFile();
const shipped = readPhraseList(shippedPhraseListFile());
const entryById = new Map(shipped.entries.map((e) => [e.id, e]));

describeRiskScreenContract('phrase list (shipped)', () => PhraseListScreen.fromFile(), {
  hit: 'I want to kill myself',
  clean: 'I slept better this week and work felt manageable',
});

/** Screens and asserts a hit on exactly entry `id`, returning nothing else. */
function expectHit(text: string, id: string): void {
  const entry = entryById.get(id);
  expect(entry, `test names unknown entry ${id}`).toBeDefined();
  expect(screen.screen(text), text).toEqual({ hit: true, level: entry!.level, category: entry!.category, matched: id });
}

describe('PhraseListScreen: one hit per category and level', () => {
  const cases: [string, RiskCategory, RiskLevel, string][] = [
    ['I am going to kill myself tonight', 'suicide', 'high', 'suicide.intent'],
    ['honestly there is no reason to live', 'suicide', 'medium', 'suicide.hopeless'],
    ["I've been cutting myself again", 'self-harm', 'high', 'self-harm.act'],
    ['the urge to cut is back', 'self-harm', 'medium', 'self-harm.urge'],
    ['I swear I will stab him', 'harm-to-others', 'high', 'harm-to-others.threat'],
    ['I am scared I might hurt the baby', 'harm-to-others', 'medium', 'harm-to-others.urge'],
    ['my husband hits me when he drinks', 'abuse', 'high', 'abuse.physical'],
    ['I am scared to go home tonight', 'abuse', 'medium', 'abuse.unsafe'],
  ];
  it.each(cases)('%j → %s / %s (%s)', (text, category, level, id) => {
    expect(screen.screen(text)).toEqual({ hit: true, level, category, matched: id });
  });

  it('covers every category and level of the shipped list in the table above', () => {
    const covered = new Set(cases.map(([, c, l]) => `${c}/${l}`));
    const inList = new Set(shipped.entries.map((e) => `${e.category}/${e.level}`));
    expect([...inList].filter((k) => !covered.has(k))).toEqual([]);
  });
});

describe('PhraseListScreen: variants of a phrase', () => {
  const variants: [string, string, string][] = [
    ['plain', 'I want to kill myself', 'suicide.intent'],
    ['upper case', 'I WANT TO KILL MYSELF', 'suicide.intent'],
    ['mixed case', 'i WaNt To KiLl MySeLf', 'suicide.intent'],
    ['punctuation', 'kill...myself!!!', 'suicide.intent'],
    ['hyphen', 'kill-myself', 'suicide.intent'],
    ['extra whitespace', '  kill \t\n  myself  ', 'suicide.intent'],
    ['split "my self"', 'I could kill my self', 'suicide.intent'],
    ['straight apostrophe', "I'm suicidal", 'suicide.feeling'],
    ['curly apostrophe', 'I’m suicidal', 'suicide.feeling'],
    ['modifier apostrophe', 'Iʼm suicidal', 'suicide.feeling'],
    ['backtick', 'I`m suicidal', 'suicide.feeling'],
    ['acute accent as apostrophe', 'I´m suicidal', 'suicide.feeling'],
    ['no apostrophe', 'im suicidal', 'suicide.feeling'],
    ['no contraction', 'I am suicidal', 'suicide.feeling'],
    ["don't", "I don't want to be here anymore", 'suicide.hopeless'],
    ['don’t (curly)', 'I don’t want to be here anymore', 'suicide.hopeless'],
    ['dont', 'i dont want to be here anymore', 'suicide.hopeless'],
    ['do not', 'I do not want to be here any more', 'suicide.hopeless'],
    ["can't", "I can't go on like this", 'suicide.hopeless'],
    ['cant', 'i cant go on like this', 'suicide.hopeless'],
    ['cannot', 'I cannot go on like this', 'suicide.hopeless'],
    ['can not', 'I can not go on like this', 'suicide.hopeless'],
    ["he's", "he's hurting me", 'abuse.physical'],
    ['hes', 'hes hurting me', 'abuse.physical'],
    ['he is', 'he is hurting me', 'abuse.physical'],
    ['wanna', 'i just wanna die', 'suicide.wish-to-die'],
    ["won't", "he won't let me leave the house", 'abuse.unsafe'],
    ['wont', 'he wont let me leave', 'abuse.unsafe'],
    ['"u" for you', 'i will kill u', 'harm-to-others.threat'],
    ["I'll kill him", "I'll kill him", 'harm-to-others.threat'],
    ['elongated vowels', 'I want to dieeeeee', 'suicide.wish-to-die'],
    ['elongated consonants', 'kiiilllll myselffff', 'suicide.intent'],
    ['elongated before', 'sooooo suicidal', 'suicide.mention'],
    ['leet 1 and 3', 'k1ll mys3lf', 'suicide.intent'],
    ['leet 0, 3 and @', 'w@nt t0 d13', 'suicide.wish-to-die'],
    ['leet $', '$uicidal', 'suicide.mention'],
    ['leet 4', 'self h4rm', 'self-harm.urge'],
    ['leet 5 and 7', '5uicide no7e', 'suicide.plan'],
    ['acute accents', 'kíll mysélf', 'suicide.intent'],
    ['other diacritics', 'sùïçîdé', 'suicide.mention'],
    ['fullwidth', 'ｋｉｌｌ ｍｙｓｅｌｆ', 'suicide.intent'],
    ['mathematical bold', '𝐤𝐢𝐥𝐥 𝐦𝐲𝐬𝐞𝐥𝐟', 'suicide.intent'],
    ['ligature', 'better o\ufb00 dead', 'suicide.wish-to-die'],
    ['zero-width space', 'ki\u200bll my\u200bself', 'suicide.intent'],
    ['zero-width joiner and non-joiner', 'k\u200di\u200cll myself', 'suicide.intent'],
    ['word joiner and BOM', 'sui\u2060ci\ufeffde', 'suicide.mention'],
    ['soft hyphen', 'self\u00adharm', 'self-harm.urge'],
    ['spaced letters', 'k i l l myself', 'suicide.intent'],
    ['dotted letters', 's.u.i.c.i.d.e', 'suicide.mention'],
    ['spaced letters with leet', 'k 1 l l myself', 'suicide.intent'],
    ['combined', 'I’M   g0nna   KIIILL... mys3lf!!!', 'suicide.intent'],
    ['over a line break', 'i want to\nkill\nmyself', 'suicide.intent'],
    ['at the very start and end', 'suicidal', 'suicide.mention'],
  ];
  it.each(variants)('%s: %j', (_what, text, id) => expectHit(text, id));
});

describe('PhraseListScreen: word boundaries', () => {
  const notHits = [
    'skill myself up',
    'I want to upskill myself this year',
    'a thriller about a killer myself included',
    'killjoy myself',
    'unkill myselfish',
    'suicidesquad',
    'pharmacy harmony',
    'self harmony',
    'he hitches me a ride',
    'the overdoses_table',
    'menderson tiredness of livingroom',
  ];
  it.each(notHits)('%j is not a hit', (text) => {
    expect(screen.screen(text)).toEqual({ hit: false });
  });

  it('still hits when the phrase stands alone among those words', () => {
    expectHit('skill myself up, or kill myself', 'suicide.intent');
    expectHit('pharmacy, self harm', 'self-harm.urge');
  });
});

describe('PhraseListScreen: negation and context are not understood (by design)', () => {
  const cases: [string, string][] = [
    ['I would never kill myself', 'suicide.intent'],
    ["I don't want to die", 'suicide.wish-to-die'],
    // `not` breaks `I am suicidal` (high); `suicidal` alone (medium) still catches it.
    ['I am not suicidal', 'suicide.mention'],
    ['I could kill him for forgetting our anniversary', 'harm-to-others.threat'],
  ];
  it.each(cases)('%j is a hit', (text, id) => expectHit(text, id));
});

describe('PhraseListScreen: ordinary therapy talk is not a hit', () => {
  const sentences = [
    "I've been sleeping badly, maybe five hours a night.",
    'I woke at 4am again and could not get back to sleep.',
    'Work has been killing me this week, so many deadlines.',
    'My boss is going to kill me if I am late again.',
    'That joke at dinner absolutely killed me.',
    'I want to work on my skills at work, especially presenting.',
    'My manager says I am very skilled at calming people down.',
    'My daughter is learning to cut shapes out with scissors.',
    "I'd like to cut down on caffeine after lunch.",
    "I'm proud of myself for going to the gym three times.",
    'The hanging baskets in the garden look lovely this year.',
    'I finally ended my lease early and moved closer to my sister.',
    'We talked about endings last session and it stayed with me.',
    "I'm dying to see my sister at Christmas.",
    "I'm dead tired after the night shift.",
    'I have so much to live for, my kids mostly.',
    'I want to live a calmer life.',
    'It hit me that I have been avoiding my dad for months.',
    'Mum hits the roof whenever I am late.',
    'I felt safe at home this weekend, which was new.',
    'Shooting hoops with my son on Sunday really helped.',
    "I'll shoot him an email about the rota tomorrow.",
    "I can't go on holiday this year, money is tight.",
    'I can not do mornings, never could.',
    'I took my meds on time every day this week.',
    'The pharmacist changed my prescription and it is much better.',
    'Our choir sang in harmony for the first time.',
    'I am trying to be less hard on myself.',
    'My partner and I argued about money but we made up.',
    'I cried during the film and felt better afterwards.',
    'I felt anxious before the exam but it went fine.',
    'Sometimes I overthink everything my family says.',
    'I have been feeling low but the walks help.',
    'My grandad passed away last year and I miss him.',
    'The kids were a handful but we had a nice day at the beach.',
    'I hurt my back lifting boxes at the warehouse.',
    "I'm learning to say no at work without feeling guilty.",
    'I felt really ill on Monday so I stayed in bed.',
    'Ill be there at 10, see you then.',
    'I want to end the call a bit early today if that is ok.',
    'My therapist suggested I write a gratitude list.',
    'My sister is a nurse and works nights on the cardiac ward.',
    'I cut my hair short and I love it.',
    'The film was a thriller about a hitman and I hated it.',
  ];
  it.each(sentences)('%j', (text) => {
    expect(screen.screen(text)).toEqual({ hit: false });
  });
});

describe('PhraseListScreen: which hit is reported', () => {
  it('reports a high entry over a medium one that comes earlier', () => {
    expectHit('thinking about suicide, I want to kill myself', 'suicide.feeling');
    expectHit('no reason to live, so I will cut myself', 'self-harm.act');
  });

  it('reports the earliest of two hits at the same level', () => {
    expectHit('I will stab him and then kill myself', 'harm-to-others.threat');
    expectHit('I will kill myself and then stab him', 'suicide.intent');
  });

  it('reports the longer high phrase over a medium phrase inside it', () => {
    // `suicidal` (medium) is inside `feeling suicidal` (high).
    expectHit('feeling suicidal', 'suicide.feeling');
  });
});

describe('PhraseListScreen: the shipped list', () => {
  it('is versioned in the classifier name', () => {
    expect(screen.classifier).toBe(`phrase-list@${shipped.version}`);
    expect(shipped.version).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('has a few dozen phrases in every category', () => {
    const total = shipped.entries.reduce((n, e) => n + e.patterns.length, 0);
    expect(total).toBeGreaterThanOrEqual(40);
    for (const category of ['suicide', 'self-harm', 'harm-to-others', 'abuse']) {
      expect(shipped.entries.some((e) => e.category === category)).toBe(true);
    }
  });

  const all = shipped.entries.flatMap((e) => e.patterns.map((p) => [e.id, p] as const));

  it.each(all)('%s: %j is caught, by its own entry or a more serious one', (id, pattern) => {
    const own = entryById.get(id)!;
    const result = screen.screen(`well ${pattern} I guess`);
    expect(result.hit).toBe(true);
    if (!result.hit) return;
    const ownRank = riskLevelRank(own.level);
    expect(riskLevelRank(result.level)).toBeGreaterThanOrEqual(ownRank);
    if (result.matched !== id) expect(riskLevelRank(result.level)).toBeGreaterThan(ownRank);
  });

  /** A disguise a person might type: upper case, a vowel in leetspeak, a doubled last letter, punctuation between words. */
  function disguise(pattern: string): string {
    return pattern
      .split(' ')
      .map((word) => {
        const leet =
          word.length >= 3 ? word.replace(/[eao]/i, (c) => ({ e: '3', a: '4', o: '0' })[c.toLowerCase()]!) : word;
        return `${leet}${leet.slice(-1).repeat(3)}`.toUpperCase();
      })
      .join(' ... ');
  }

  it.each(all)('%s: %j is caught when disguised', (id, pattern) => {
    const result = screen.screen(disguise(pattern));
    expect(result.hit, disguise(pattern)).toBe(true);
    if (result.hit) expect(riskLevelRank(result.level)).toBeGreaterThanOrEqual(riskLevelRank(entryById.get(id)!.level));
  });

  it('the disguise really changes the text', () => {
    expect(disguise("can't go on like this")).toBe("C4N'TTTT ... GOOOO ... ONNNN ... LIK3333 ... THISSSS");
  });
});

describe('PhraseListScreen: results carry no patient text', () => {
  const texts = [
    'Please help, I want to kill myself, my name is Alex Example',
    'he hits me and my address is 1 Example Street',
    'zzsecretzz cutting myself zzsecretzz',
  ];
  it.each(texts)('%j', (text) => {
    const result = screen.screen(text);
    expect(result.hit).toBe(true);
    const serialised = JSON.stringify(result);
    for (const word of text.split(/\W+/).filter((w) => w.length >= 5 && !/^(cutting|myself)$/i.test(w))) {
      expect(serialised).not.toContain(word);
    }
    expect(serialised).not.toContain(text);
    if (result.hit) expect(entryById.has(result.matched)).toBe(true);
  });

  it('returns the same frozen object for every hit of an entry', () => {
    const a = screen.screen('kill myself');
    const b = screen.screen('I will kill myself, I will');
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('PhraseListScreen: a list of its own', () => {
  it('compiles a list given in code', () => {
    const own = new PhraseListScreen(
      parsePhraseList(
        {
          version: 't1',
          language: 'en',
          entries: [{ id: 'test.one', category: 'abuse', level: 'medium', patterns: ['blue door'] }],
        },
        'test',
      ),
    );
    expect(own.classifier).toBe('phrase-list@t1');
    expect(own.screen('the BLUE... door')).toEqual({
      hit: true,
      level: 'medium',
      category: 'abuse',
      matched: 'test.one',
    });
    expect(own.screen('I want to kill myself')).toEqual({ hit: false });
  });
});

describe('PhraseListScreen: volume (no timing assertions)', () => {
  it('screens 10,000 messages of about 200 characters', () => {
    const clean =
      "Honestly this week was up and down. I slept badly on Tuesday, work was busy, and my sister's visit was lovely " +
      'but tiring. I think the breathing exercise helps a bit when I notice it early.';
    const risky = `${clean.slice(0, 120)} some days I want to die, and ${clean.slice(120)}`;
    const unicode = `${clean.slice(0, 150)} Ｉ’ｍ ｓｕｉｃｉｄａｌ ${clean.slice(150)}`;
    let hits = 0;
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) {
      const text = i % 100 === 0 ? risky : i % 100 === 1 ? unicode : `${clean} ${i}`;
      if (screen.screen(text).hit) hits++;
    }
    const micros = ((performance.now() - started) * 1000) / 10_000;
    // Informational only: CI machines vary too much for a timing assertion.
    console.info(`risk screen: ${micros.toFixed(1)} µs per message over 10,000 messages`);
    expect(clean.length).toBeGreaterThanOrEqual(180);
    expect(hits).toBe(200);
  });
});
