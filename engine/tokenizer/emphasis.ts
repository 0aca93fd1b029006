/**
 * Prompt weighting ("emphasis") as AUTOMATIC1111's web UI parses it (`parse_prompt_attention` in
 * modules/prompt_parser.py), so prompts written for it, stable-diffusion.cpp or ComfyUI weigh the same here:
 *
 *   (text)       weight × 1.1          [text]      weight ÷ 1.1
 *   (text:1.5)   weight × 1.5          nesting multiplies: ((text)) is × 1.21, ((text:1.5)) × 1.65
 *   \( \) \[ \] \\   the character itself; a backslash before anything else is dropped (as in A1111)
 *
 * Unbalanced brackets follow A1111: a `(` or `[` never closed weighs everything after it; a `)` or `]` with nothing
 * open is text. `(text:abc)` is not a weight: ":abc" stays text and the `)` is a plain ×1.1. A weight A1111's
 * pattern accepts but Python's float() rejects (`1.2.3`, `.`) would stop A1111 with an error; here it is text, as
 * `:abc` is. `BREAK` (A1111's 75-token chunk break) is not implemented: it stays a word of the prompt. Adjacent
 * segments of equal weight are merged; an empty prompt is one empty segment of weight 1.
 */

export interface WeightedSegment {
  text: string;
  weight: number;
}

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

// A1111's `re_attention`, with the later version's spaces allowed around the number ("(x: 1.2 )").
const TOKEN = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;

export function parseEmphasis(prompt: string): WeightedSegment[] {
  const res: WeightedSegment[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, factor: number) => {
    for (let i = start; i < res.length; i++) res[i]!.weight *= factor;
  };

  for (const match of prompt.matchAll(TOKEN)) {
    const token = match[0];
    const number = match[1];
    if (token.startsWith('\\')) res.push({ text: token.slice(1), weight: 1 });
    else if (token === '(') round.push(res.length);
    else if (token === '[') square.push(res.length);
    else if (number !== undefined && round.length > 0) {
      const weight = Number(number);
      // Not a number after all: the colon and digits are text, and the bracket closes with the plain ×1.1.
      if (Number.isNaN(weight)) res.push({ text: token.slice(0, token.lastIndexOf(')')), weight: 1 });
      multiplyFrom(round.pop()!, Number.isNaN(weight) ? ROUND : weight);
    } else if (token === ')' && round.length > 0) multiplyFrom(round.pop()!, ROUND);
    else if (token === ']' && square.length > 0) multiplyFrom(square.pop()!, SQUARE);
    else res.push({ text: token, weight: 1 });
  }
  for (const start of round) multiplyFrom(start, ROUND);
  for (const start of square) multiplyFrom(start, SQUARE);

  if (res.length === 0) return [{ text: '', weight: 1 }];
  const merged: WeightedSegment[] = [res[0]!];
  for (const segment of res.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (last.weight === segment.weight) last.text += segment.text;
    else merged.push(segment);
  }
  return merged;
}
