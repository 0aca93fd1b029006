import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CorruptModelError } from '../../engine/io/errors';
import { ClipTokenizer, type ClipTokenizerFiles } from '../../engine/tokenizer/clip';

const FIXTURES = new URL('../../../shared/fixtures/tiny-sd1/', import.meta.url).pathname;
const read = (path: string) => readFileSync(`${FIXTURES}model/tokenizer/${path}`, 'utf8');
const FILES: ClipTokenizerFiles = {
  vocab: read('vocab.json'),
  merges: read('merges.txt'),
  tokenizerConfig: read('tokenizer_config.json'),
  specialTokensMap: read('special_tokens_map.json'),
};
const tokenizer = ClipTokenizer.fromFiles(FILES);
const BOS = 813;
const EOS = 814;

/** [bos, ...ids, eos] of `text` without padding. */
const unpadded = (text: string) => [tokenizer.bosId, ...tokenizer.encode(text), tokenizer.eosId];

describe('CLIP tokenizer: reference cases', () => {
  const cases = (JSON.parse(readFileSync(`${FIXTURES}cases.json`, 'utf8')) as { tokenizer: { text: string; ids: number[] }[] }).tokenizer;

  it.each(cases.map((c) => [JSON.stringify(c.text).slice(0, 60), c] as const))('%s', (_, c) => {
    const { ids, truncated } = tokenizer.tokenize(c.text);
    expect(ids).toEqual(c.ids);
    expect(ids).toHaveLength(77);
    // The reference truncates silently; what was cut is counted from the untruncated encoding.
    expect(truncated).toBe(Math.max(0, tokenizer.encode(c.text).length - 75));
  });

  it('reads the special tokens of the tokenizer folder', () => {
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.padId, tokenizer.unkId, tokenizer.maxLength]).toEqual([BOS, EOS, EOS, EOS, 77]);
  });
});

describe('CLIP tokenizer: more text', () => {
  // Expected ids from an independent implementation: @huggingface/tokenizers 0.2.0 (a port of the Rust `tokenizers`
  // crate that transformers' CLIPTokenizer runs on), fed the tokenizer.json transformers writes for CLIP — normalizer
  // NFC + Replace(\s+ → " ") + Lowercase, Split on CLIP's pattern (Removed, inverted) + ByteLevel, BPE with "</w>" —
  // built from this fixture's vocab.json and merges.txt. It agrees with all cases of cases.json.
  const cases: [string, string, number[]][] = [
    ['whitespace only', '   ', [BOS, EOS]],
    ['tab, newline, ideographic space', '\t\n  \u3000', [BOS, EOS]],
    ['punctuation runs', '!!!???...,,,;;;', [BOS, 0, 0, 0, 30, 30, 30, 13, 13, 13, 11, 11, 11, 26, 26, 282, EOS]],
    ['punctuation between letters', 'a!!b??c', [BOS, 320, 0, 256, 321, 30, 286, 322, EOS]],
    ['accents, Greek final sigma, ß', 'Ünïcödé ÀÉÎ ΟΔΟΣ straße', [BOS, 127, 120, 77, 127, 107, 66, 127, 114, 67, 127, 358, 127, 254, 127, 102, 127, 362, 138, 123, 138, 112, 138, 123, 139, 480, 517, 540, 127, 253, 324, EOS]],
    ['emoji, skin tone, ZWJ family', '😀😃🎉 👍🏽 family 👨\u200d👩\u200d👧', [BOS, 172, 253, 246, 222, 172, 253, 246, 225, 172, 253, 236, 487, 172, 253, 239, 235, 172, 253, 237, 377, 69, 64, 76, 534, 344, 172, 253, 239, 101, 158, 222, 235, 172, 253, 239, 102, 158, 222, 235, 172, 253, 239, 356, EOS]],
    ['CJK', '日本語のテキスト 中文', [BOS, 162, 245, 98, 162, 250, 105, 164, 103, 252, 159, 223, 106, 159, 225, 228, 159, 224, 255, 159, 224, 117, 159, 225, 486, 160, 116, 255, 162, 244, 485, EOS]],
    ['contractions', "can't won't it's we're they've i'm you'll he'd", [BOS, 66, 536, 6, 339, 86, 520, 6, 339, 729, 6, 338, 86, 324, 6, 81, 324, 83, 71, 68, 344, 6, 85, 324, 328, 6, 332, 88, 78, 340, 6, 75, 331, 516, 6, 323, EOS]],
    ['upper-case contractions', "CAN'T IT'S", [BOS, 66, 536, 6, 339, 729, 6, 338, EOS]],
    ['digits one by one', 'x1234y 3.14159 1,000,000', [BOS, 343, 272, 273, 274, 275, 344, 274, 269, 272, 275, 272, 276, 280, 272, 267, 271, 271, 271, 267, 271, 271, 271, EOS]],
    ['combining accents are composed (NFC)', 'e\u0301 cafe\u0301', [BOS, 127, 358, 537, 69, 127, 358, EOS]],
    ['special tokens typed in the prompt', '<|startoftext|>hello<|endoftext|>world', [BOS, BOS, 71, 68, 75, 75, 334, EOS, 86, 766, 746, EOS]],
    ['no-break and em spaces split, a BOM does not', 'tab\u00a0nbsp\u2003emspace\ufeffbom', [BOS, 83, 64, 321, 77, 65, 82, 335, 68, 76, 82, 79, 64, 66, 324, 171, 119, 379, 550, 332, EOS]],
    ['symbol runs', 'a--b__c==d', [BOS, 320, 12, 268, 321, 62, 318, 322, 28, 284, 323, EOS]],
    ['compatibility characters are not folded (NFC, not NFKC)', '\ufb01 ligature \u216b \u2460', [BOS, 171, 105, 479, 75, 519, 627, 158, 227, 375, 158, 239, 510, EOS]],
  ];
  it.each(cases)('%s', (_, text, ids) => {
    expect(unpadded(text)).toEqual(ids);
  });

  it('pads empty and whitespace-only prompts to [bos, eos, pad…]', () => {
    for (const text of ['', ' ', '\n\t ']) {
      expect(tokenizer.tokenize(text)).toEqual({ ids: [BOS, EOS, ...new Array<number>(75).fill(EOS)], truncated: 0, cutText: '' });
    }
  });

  it('truncates to 77 keeping eos last, and counts what was cut', () => {
    const words = (n: number) => new Array<string>(n).fill('horse').join(' ');
    expect(tokenizer.encode('horse')).toEqual([723]);
    expect(tokenizer.tokenize(words(75))).toEqual({ ids: [BOS, ...new Array<number>(75).fill(723), EOS], truncated: 0, cutText: '' });
    expect(tokenizer.tokenize(words(76))).toEqual({ ids: [BOS, ...new Array<number>(75).fill(723), EOS], truncated: 1, cutText: 'horse' });
    const long = tokenizer.tokenize(words(5000) + ' 😀');
    expect(long.ids).toHaveLength(77);
    expect(long.ids[76]).toBe(EOS);
    expect(long.truncated).toBe(5000 - 75 + 4);
    expect(long.cutText).toBe(words(5000 - 75) + ' 😀');
  });

  it('honours a different context length', () => {
    const short = ClipTokenizer.fromFiles(FILES, { maxLength: 8 });
    expect(short.tokenize('a photo of an astronaut riding a horse on the moon')).toEqual({ ids: [BOS, 320, 775, 528, 536, 624, 785, EOS], truncated: 5, cutText: 'a horse on the moon' });
  });
});

describe('CLIP tokenizer: tokenizer folders', () => {
  it('pads with the configured pad token (SD 2.x: "!")', () => {
    const sd2 = ClipTokenizer.fromFiles({ ...FILES, tokenizerConfig: { pad_token: '!' }, specialTokensMap: { pad_token: '<|endoftext|>' } });
    expect(sd2.padId).toBe(0);
    expect(sd2.tokenize('a horse').ids).toEqual([BOS, 320, 723, EOS, ...new Array<number>(73).fill(0)]);
    // AddedToken objects, and special_tokens_map.json when tokenizer_config.json does not name the token.
    const objects = ClipTokenizer.fromFiles({ ...FILES, tokenizerConfig: { pad_token: null }, specialTokensMap: { pad_token: { content: '!', lstrip: false } } });
    expect(objects.padId).toBe(0);
    const bare = ClipTokenizer.fromFiles({ vocab: FILES.vocab, merges: FILES.merges });
    expect([bare.bosId, bare.eosId, bare.padId, bare.maxLength]).toEqual([BOS, EOS, EOS, 77]);
    const huge = ClipTokenizer.fromFiles({ ...FILES, tokenizerConfig: { model_max_length: 1e30 } });
    expect(huge.maxLength).toBe(77);
  });

  it('rejects damaged files with CorruptModelError', () => {
    const expectCorrupt = (files: Partial<ClipTokenizerFiles>, message: RegExp) => {
      const make = () => ClipTokenizer.fromFiles({ ...FILES, ...files });
      expect(make).toThrow(CorruptModelError);
      expect(make).toThrow(message);
    };
    expectCorrupt({ vocab: '{"a": 1,' }, /tokenizer\/vocab\.json .*not valid JSON.*download it again/);
    expectCorrupt({ vocab: '["a"]' }, /vocab\.json .*not a JSON object/);
    expectCorrupt({ vocab: '{"a": "one"}' }, /the id of "a" is "one"/);
    expectCorrupt({ merges: '#version: 0.2\ni n\nthree part line\n' }, /merges\.txt .*line 3 is not a pair/);
    expectCorrupt({ tokenizerConfig: { pad_token: '<pad>' } }, /the pad_token "<pad>" is not in the vocabulary/);
    expectCorrupt({ specialTokensMap: 'null' }, /special_tokens_map\.json .*not a JSON object/);
  });
});
