/** Prompt weighting: A1111's parser (its docstring's examples and the edge cases) and the weighted tokenization. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../engine/tokenizer/clip';
import { parseEmphasis } from '../../engine/tokenizer/emphasis';

const pairs = (prompt: string) => parseEmphasis(prompt).map((s) => [s.text, s.weight]);

describe('prompt weighting parser', () => {
  // The examples of `parse_prompt_attention`'s docstring (A1111 modules/prompt_parser.py), outputs as it gives them.
  it.each([
    ['normal text', [['normal text', 1.0]]],
    ['an (important) word', [['an ', 1.0], ['important', 1.1], [' word', 1.0]]],
    ['(unbalanced', [['unbalanced', 1.1]]],
    ['\\(literal\\]', [['(literal]', 1.0]]],
    ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
    [
      'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
      [
        ['a ', 1.0],
        ['house', 1.5730000000000004],
        [' ', 1.1],
        ['on', 1.0],
        [' a ', 1.1],
        ['hill', 0.55],
        [', sun, ', 1.1],
        ['sky', 1.4641000000000006],
        ['.', 1.1],
      ],
    ],
  ])('A1111 docstring: %s', (prompt, expected) => {
    expect(pairs(prompt)).toEqual(expected);
  });

  it('divides by 1.1 in square brackets and multiplies nested brackets', () => {
    expect(pairs('[blurry]')).toEqual([['blurry', 1 / 1.1]]);
    expect(pairs('((masterpiece))')).toEqual([['masterpiece', 1.1 * 1.1]]);
    expect(pairs('[[a]]')).toEqual([['a', 1 / 1.1 / 1.1]]);
    expect(pairs('([x])')).toEqual([['x', (1 / 1.1) * 1.1]]);
    expect(pairs('((x:1.5))')).toEqual([['x', 1.5 * 1.1]]);
    expect(pairs('(a (b:2) c)')).toEqual([['a ', 1.1], ['b', 2 * 1.1], [' c', 1.1]]);
  });

  it('reads explicit weights, with spaces around them, signs and bare decimals', () => {
    expect(pairs('a (red:1.3) fox')).toEqual([['a ', 1], ['red', 1.3], [' fox', 1]]);
    expect(pairs('(x:0.5)')).toEqual([['x', 0.5]]);
    expect(pairs('(x: 2 )')).toEqual([['x', 2]]);
    expect(pairs('(x:.5)')).toEqual([['x', 0.5]]);
    expect(pairs('(x:-1)')).toEqual([['x', -1]]);
    expect(pairs('(x:1.0) y')).toEqual([['x y', 1]]);
  });

  it('keeps a weight that is not a number as text, closing with the plain 1.1', () => {
    expect(pairs('(x:abc)')).toEqual([['x:abc', 1.1]]);
    expect(pairs('(x:1.2.3)')).toEqual([['x:1.2.3', 1.1]]);
    expect(pairs('a: b')).toEqual([['a: b', 1]]);
  });

  it('treats escapes as the character itself and drops a lone backslash, as A1111 does', () => {
    expect(pairs('\\(literal parentheses\\)')).toEqual([['(literal parentheses)', 1]]);
    expect(pairs('\\[x\\] \\\\ y')).toEqual([['[x] \\ y', 1]]);
    expect(pairs('a\\b')).toEqual([['ab', 1]]);
    expect(pairs('(\\(x\\))')).toEqual([['(x)', 1.1]]);
  });

  it('handles unbalanced brackets as A1111 does', () => {
    expect(pairs('a (b [c')).toEqual([['a ', 1], ['b ', 1.1], ['c', 1.1 / 1.1]]);
    expect(pairs('a) b] c')).toEqual([['a) b] c', 1]]);
    expect(pairs('x:1.2) y')).toEqual([['x:1.2) y', 1]]);
    expect(pairs('(a] b)')).toEqual([['a] b', 1.1]]);
  });

  it('leaves BREAK as text and gives an empty prompt one empty segment', () => {
    expect(pairs('a BREAK b')).toEqual([['a BREAK b', 1]]);
    expect(pairs('')).toEqual([['', 1]]);
    expect(pairs('()')).toEqual([['', 1]]);
  });
});

describe('weighted tokenization', () => {
  const dir = new URL('../../../shared/fixtures/tiny-sd1/model/tokenizer/', import.meta.url).pathname;
  const read = (file: string) => readFileSync(dir + file, 'utf8');
  const tokenizer = ClipTokenizer.fromFiles({ vocab: read('vocab.json'), merges: read('merges.txt'), tokenizerConfig: read('tokenizer_config.json'), specialTokensMap: read('special_tokens_map.json') });
  const weighted = (prompt: string) => tokenizer.tokenizeWeighted(parseEmphasis(prompt));

  it('tokenizes each segment on its own and gives its tokens the segment weight, 1 elsewhere', () => {
    const out = weighted('a (red:1.3) fox, [blurry]');
    const segments = [['a ', 1], ['red', 1.3], [' fox, ', 1], ['blurry', 1 / 1.1]] as const;
    const ids = [tokenizer.bosId];
    const weights = [1];
    for (const [text, weight] of segments) {
      for (const id of tokenizer.encode(text)) {
        ids.push(id);
        weights.push(weight);
      }
    }
    ids.push(tokenizer.eosId);
    expect(out.ids.slice(0, ids.length)).toEqual(ids);
    expect(out.ids.slice(ids.length)).toEqual(new Array(77 - ids.length).fill(tokenizer.padId));
    expect(out.weights).toEqual([...weights, ...new Array(77 - weights.length).fill(1)]);
    expect([out.truncated, out.cutText]).toEqual([0, '']);
  });

  it('gives a prompt without weighting the ids and cut of the plain tokenizer', () => {
    for (const prompt of ['a cat', 'a (cat:1.0)', 'word '.repeat(100)]) {
      const plain = tokenizer.tokenize(prompt.replace(/\(|:1\.0\)/g, ''));
      const out = weighted(prompt);
      expect(out.ids).toEqual(plain.ids);
      expect(out.weights).toEqual(new Array(77).fill(1));
      expect([out.truncated, out.cutText]).toEqual([plain.truncated, plain.cutText]);
    }
  });

  it('counts and shows what was cut across segments, without the weighting syntax', () => {
    // "a" is one token of the fixture's vocabulary, "last" three: 72 + 3 fill the 75 places.
    const out = weighted(`${'a '.repeat(72)}(Last straw:1.2) and [the rest]`);
    expect(out.ids).toHaveLength(77);
    expect(out.truncated).toBe(tokenizer.encode('straw and the rest').length);
    expect(out.cutText).toBe('straw and the rest');
    expect(out.weights.slice(72, 77)).toEqual([1, 1.2, 1.2, 1.2, 1]);
    expect(out.ids[76]).toBe(tokenizer.eosId);
    // A cut at a segment's start shows that whole segment; one inside a word shows the rest of the word.
    expect(weighted(`${'a '.repeat(75)}(more words:1.2)`).cutText).toBe('more words');
    const inWord = weighted(`${'a '.repeat(73)}(last straw:1.2) fox`);
    expect([inWord.truncated, inWord.cutText]).toEqual([1 + 3 + 1, `${tokenizer.decode(tokenizer.encode('last').slice(2))} straw fox`]);
  });
});
