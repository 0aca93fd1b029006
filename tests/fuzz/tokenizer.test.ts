/**
 * Fuzzing the CLIP tokenizer with random Unicode (lone surrogates, combining marks, emoji, control and zero-width
 * characters, every kind of whitespace, special-token and HTML fragments), random bytes decoded as UTF-8 and Latin-1,
 * and huge strings. Every input must give exactly 77 ids from the vocabulary with the start and end tokens in place,
 * the same ids on a fresh tokenizer (no cache effects), a cut count that adds up, and tokens that decode back to the
 * very bytes of the cleaned text: nothing dropped, nothing invented. No input may throw or take long.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer, type ClipTokenizerFiles } from '../../engine/tokenizer/clip';
import { expectNamedOutcome, Fuzz } from './fuzz';

export const TOKENIZER_CASES = 3000;
const HUGE_CASES = 5;

const DIR = new URL('../../../shared/fixtures/tiny-sd1/model/tokenizer/', import.meta.url).pathname;
const FILES: ClipTokenizerFiles = {
  vocab: readFileSync(`${DIR}vocab.json`, 'utf8'),
  merges: readFileSync(`${DIR}merges.txt`, 'utf8'),
  tokenizerConfig: readFileSync(`${DIR}tokenizer_config.json`, 'utf8'),
  specialTokensMap: readFileSync(`${DIR}special_tokens_map.json`, 'utf8'),
};
const VOCAB_IDS = new Set(Object.values(JSON.parse(FILES.vocab as string) as Record<string, number>));

function input(fuzz: Fuzz): string {
  switch (fuzz.int(5)) {
    case 0:
      return new TextDecoder().decode(fuzz.bytes(fuzz.int(300)));
    case 1:
      return new TextDecoder('latin1').decode(fuzz.bytes(fuzz.int(300)));
    case 2:
      return fuzz.text(30);
    default:
      return fuzz.text(400);
  }
}

/** Checks the properties every tokenization must have (failing the test on a violation); returns the cut count. */
function check(tokenizer: ClipTokenizer, fresh: ClipTokenizer | undefined, text: string, label: string): number {
  const { ids, truncated, cutText } = tokenizer.tokenize(text);
  expect(ids.length, label).toBe(77);
  expect(ids.every((id) => VOCAB_IDS.has(id)), `${label}: ids outside the vocabulary`).toBe(true);
  expect(ids[0], label).toBe(tokenizer.bosId);
  const tokens = tokenizer.encode(text);
  const kept = Math.min(tokens.length, 75);
  expect(truncated, label).toBe(tokens.length - kept);
  expect(ids.slice(1, 1 + kept), label).toEqual(tokens.slice(0, kept));
  expect(ids[1 + kept], label).toBe(tokenizer.eosId);
  expect(ids.slice(2 + kept).every((id) => id === tokenizer.padId), label).toBe(true);
  expect(cutText === '', label).toBe(truncated === 0);
  // Spaces dropped after encoding: dropped before, a lone high and a lone low surrogate would join into one character.
  const spaceless = (t: string) => Buffer.from(new TextEncoder().encode(t).filter((b) => b !== 0x20));
  expect(spaceless(cutText).equals(spaceless(tokenizer.decode(tokens.slice(kept)))), `${label}: cut text ${JSON.stringify(cutText)}`).toBe(true);
  // The cache must not change results: a tokenizer that never saw other inputs agrees.
  if (fresh) expect(fresh.tokenize(text).ids, label).toEqual(ids);
  // Every non-space byte of the cleaned text is in the tokens, in order (lone surrogates become U+FFFD on encoding).
  const expected = spaceless(ClipTokenizer.clean(text));
  const decoded = spaceless(tokenizer.decode(tokens));
  expect(decoded.equals(expected), `${label}: tokens decode to ${JSON.stringify(decoded.toString())}, not ${JSON.stringify(expected.toString())}`).toBe(true);
  return truncated;
}

describe('fuzz: CLIP tokenizer', () => {
  const tokenizer = ClipTokenizer.fromFiles(FILES);

  it(`${TOKENIZER_CASES} random texts: 77 valid ids that decode back to the text, each within 1 s`, async () => {
    const fuzz = new Fuzz(0x70c);
    let cut = 0;
    for (let i = 0; i < TOKENIZER_CASES; i++) {
      const text = input(fuzz);
      const fresh = i % 20 === 0 ? ClipTokenizer.fromFiles(FILES) : undefined;
      let truncated = 0;
      const outcome = await expectNamedOutcome(`case ${i} ${JSON.stringify(text.slice(0, 40))}`, () => (truncated = check(tokenizer, fresh, text, `case ${i}`)), [], 1000);
      expect(outcome).toBe('ok');
      if (truncated > 0) cut++;
    }
    // Both short prompts and ones past the 77-token window were among the cases.
    expect(cut).toBeGreaterThan(TOKENIZER_CASES / 10);
    expect(cut).toBeLessThan(TOKENIZER_CASES);
  }, 60_000);

  it(`${HUGE_CASES} huge texts (300k characters, one 200k-letter word) tokenize within 5 s each`, async () => {
    const fuzz = new Fuzz(0xb16);
    const texts = [
      'a'.repeat(200_000),
      Array.from({ length: 200_000 }, () => String.fromCharCode(97 + fuzz.int(26))).join(''),
      '<|endoftext|>'.repeat(50_000),
      ...Array.from({ length: HUGE_CASES - 3 }, () => fuzz.text(300_000)),
    ];
    for (const [i, text] of texts.entries()) {
      await expectNamedOutcome(`huge ${i}`, () => {
        const { ids, truncated, cutText } = tokenizer.tokenize(text);
        expect(ids.length).toBe(77);
        expect(truncated).toBeGreaterThan(0);
        expect(cutText.length).toBeGreaterThan(0);
      }, [], 5000);
    }
  }, 120_000);

  it('reports the cut text of a long prompt', () => {
    const words = Array.from({ length: 80 }, (_, i) => `w${i}`).join(' ');
    const { truncated, cutText } = tokenizer.tokenize(words);
    expect(truncated).toBe(tokenizer.encode(words).length - 75);
    expect(cutText.length).toBeGreaterThan(0);
    expect(words.endsWith(cutText)).toBe(true);
    expect(tokenizer.tokenize('a short prompt')).toMatchObject({ truncated: 0, cutText: '' });
  });
});
