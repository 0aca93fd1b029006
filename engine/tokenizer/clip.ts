/**
 * CLIP's byte-level BPE tokenizer, from the `vocab.json` and `merges.txt` that Stable Diffusion repositories ship
 * (with `tokenizer_config.json` / `special_tokens_map.json` for the special tokens).
 *
 * Steps, as transformers' CLIPTokenizer runs them (without ftfy, which only repairs mojibake):
 * 1. clean-up: Unicode NFC, every run of whitespace → one space, trim, lower-case;
 * 2. pre-tokenisation with CLIP's regex into special tokens, English contractions, letter runs, single digits and
 *    runs of other non-space characters;
 * 3. each piece's UTF-8 bytes mapped to printable characters (GPT-2's byte-to-unicode table), the last one marked
 *    with `</w>`, then merged pairwise by merge rank (lowest first) until no ranked pair is left;
 * 4. `<|startoftext|>` + ids + `<|endoftext|>`, truncated to the context length keeping the end token last, padded
 *    with the pad token (`<|endoftext|>` in SD 1.x, `!` in SD 2.x).
 */
import { CorruptModelError } from '../io/errors';
import type { WeightedSegment } from './emphasis';

/** The pieces CLIP's tokenizer splits text into before BPE (its `pat`, lower-case input assumed). */
const PRE_TOKENIZER = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/gu;
/** Unicode White_Space, what the reference's `\s+` collapses (JS `\s` would add U+FEFF, which it keeps). */
const WHITESPACE = /\p{White_Space}+/gu;
/** Pieces kept in the BPE cache before it is cleared: prompts reuse few words, so this is never reached in practice. */
const CACHE_LIMIT = 50_000;

/** GPT-2's table: every byte to a printable character, so BPE works on strings without spaces or control codes. */
function byteToUnicode(): string[] {
  const table = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}

export interface ClipTokenizerFiles {
  /** `vocab.json`: token → id (text or parsed). */
  vocab: string | Record<string, number>;
  /** `merges.txt`: a `#version` line, then one merge ("a b") per line, highest priority first. */
  merges: string;
  /** `tokenizer_config.json` and `special_tokens_map.json` (text or parsed); the first that names a token wins. */
  tokenizerConfig?: string | Record<string, unknown>;
  specialTokensMap?: string | Record<string, unknown>;
}

export interface TokenizedPrompt {
  /** Exactly `maxLength` ids: start token, text tokens, end token, padding. */
  ids: number[];
  /** Text tokens cut off to fit (0 when the prompt fits); the UI warns when this is not 0. */
  truncated: number;
  /** The text of the tokens cut off (lower-cased and with single spaces, as the tokenizer sees it); '' when none. */
  cutText: string;
}

export interface WeightedTokens extends TokenizedPrompt {
  /** One weight per id: the segment's for text tokens, 1 for the start, end and padding tokens. */
  weights: number[];
}

export class ClipTokenizer {
  private readonly byteChars = byteToUnicode();
  private readonly charBytes = new Map(this.byteChars.map((c, b) => [c, b]));
  private readonly cache = new Map<string, number[]>();
  private readonly encoder = new TextEncoder();
  private tokens?: Map<number, string>;
  /** The two symbols of each merge, by rank. */
  private readonly pairs: readonly (readonly [string, string])[];

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly ranks: ReadonlyMap<string, number>,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
    readonly unkId: number,
    /** Context length including start and end tokens (77). */
    readonly maxLength: number,
  ) {
    this.pairs = Array.from(ranks.keys(), (key) => key.split(' ') as [string, string]);
  }

  /**
   * Builds the tokenizer from the files of a model's `tokenizer/` folder. `maxLength` defaults to the config's
   * `model_max_length` when it is a real length, else 77 (the text encoder's position count).
   */
  static fromFiles(files: ClipTokenizerFiles, options: { maxLength?: number; folder?: string } = {}): ClipTokenizer {
    const folder = options.folder ?? 'tokenizer';
    const vocabFile = `${folder}/vocab.json`;
    const vocabJson = parseObject(files.vocab, vocabFile);
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(vocabJson)) {
      if (!Number.isSafeInteger(id) || (id as number) < 0) throw new CorruptModelError(vocabFile, `the id of "${token}" is ${JSON.stringify(id)}`);
      vocab.set(token, id as number);
    }

    const mergesFile = `${folder}/merges.txt`;
    const ranks = new Map<string, number>();
    const lines = files.merges.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
      const parts = line.split(' ');
      if (parts.length !== 2 || !parts[0] || !parts[1]) throw new CorruptModelError(mergesFile, `line ${i + 1} is not a pair of symbols`);
      const key = `${parts[0]} ${parts[1]}`;
      if (!ranks.has(key)) ranks.set(key, ranks.size);
    }

    const configs = [
      files.tokenizerConfig === undefined ? {} : parseObject(files.tokenizerConfig, `${folder}/tokenizer_config.json`),
      files.specialTokensMap === undefined ? {} : parseObject(files.specialTokensMap, `${folder}/special_tokens_map.json`),
    ];
    const special = (key: string, fallback: string): number => {
      const token = configs.map((c) => tokenContent(c[key])).find((t) => t !== undefined) ?? fallback;
      const id = vocab.get(token);
      if (id === undefined) throw new CorruptModelError(vocabFile, `the ${key} "${token}" is not in the vocabulary`);
      return id;
    };
    const eosId = special('eos_token', '<|endoftext|>');
    const configured = configs[0]!['model_max_length'];
    const maxLength =
      options.maxLength ?? (Number.isSafeInteger(configured) && (configured as number) >= 2 && (configured as number) <= 4096 ? (configured as number) : 77);
    return new ClipTokenizer(vocab, ranks, special('bos_token', '<|startoftext|>'), eosId, special('pad_token', '<|endoftext|>'), special('unk_token', '<|endoftext|>'), maxLength);
  }

  /** The cleaned-up text the pre-tokeniser sees. */
  static clean(text: string): string {
    return text.normalize('NFC').replace(WHITESPACE, ' ').trim().toLowerCase();
  }

  /** Token ids of `text`, without start, end or padding tokens. */
  encode(text: string): number[] {
    return this.encodeCutting(text, Infinity).ids;
  }

  /** The `maxLength` ids the text encoder takes, how many text tokens did not fit, and their text. */
  tokenize(text: string): TokenizedPrompt {
    const room = this.maxLength - 2;
    const { ids: tokens, cutText } = this.encodeCutting(text, room);
    const kept = tokens.slice(0, room);
    const ids = [this.bosId, ...kept, this.eosId];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return { ids, truncated: tokens.length - kept.length, cutText };
  }

  /**
   * A weighted prompt (engine/tokenizer/emphasis.ts) as the text encoder takes it: each segment tokenized on its own,
   * as A1111 does (so `(red)fox` is two words), the ids joined and cut to fit as `tokenize` cuts them, with each
   * token's weight. `cutText` is the text of the segments from the first token cut on, without the weighting syntax.
   */
  tokenizeWeighted(segments: readonly WeightedSegment[]): WeightedTokens {
    const room = this.maxLength - 2;
    const ids = [this.bosId];
    const weights = [1];
    let total = 0;
    let cut: string | undefined;
    for (const [i, { text, weight }] of segments.entries()) {
      const left = Math.max(0, room - total);
      const { ids: tokens, cutText } = this.encodeCutting(text, left);
      total += tokens.length;
      for (const id of tokens.slice(0, left)) {
        ids.push(id);
        weights.push(weight);
      }
      if (cut === undefined && tokens.length > left) {
        // The rest of this segment as encodeCutting gives it, then the later segments' text, cleaned as one.
        const rest = segments.slice(i + 1).map((s) => s.text).join('');
        cut = ClipTokenizer.clean(cutText + (/\p{White_Space}$/u.test(text) ? ' ' : '') + rest);
      }
    }
    ids.push(this.eosId);
    while (ids.length < this.maxLength) ids.push(this.padId);
    while (weights.length < this.maxLength) weights.push(1);
    return { ids, weights, truncated: total - Math.min(total, room), cutText: cut ?? '' };
  }

  /**
   * The text of token ids, as CLIP's `decode` gives it: each symbol's bytes, a space where a word ends (`</w>`),
   * invalid UTF-8 (a multi-byte character split by a cut) replaced by U+FFFD. Ids outside the vocabulary are skipped.
   */
  decode(ids: readonly number[]): string {
    const tokens = (this.tokens ??= new Map([...this.vocab].map(([token, id]) => [id, token])));
    const bytes: number[] = [];
    for (const id of ids) {
      const token = tokens.get(id);
      if (token === undefined) continue;
      const word = token.endsWith('</w>') ? token.slice(0, -4) : token;
      for (const char of word) bytes.push(this.charBytes.get(char) ?? 0x3f);
      if (word !== token) bytes.push(0x20);
    }
    // U+FEFF is text here (CLIP keeps it as a symbol): ignoreBOM keeps it at the start, and only spaces are trimmed
    // (String.trim would drop it at either end).
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(bytes)).replace(/^ +| +$/g, '');
  }

  /**
   * Every token of `text`, and the cleaned text from the first token past `room` on: the rest of the word that token
   * is in (decoded from its tokens), then the text after that word verbatim, so the user reads what they wrote.
   */
  private encodeCutting(text: string, room: number): { ids: number[]; cutText: string } {
    const cleaned = ClipTokenizer.clean(text);
    const ids: number[] = [];
    let cutText: string | undefined;
    for (const match of cleaned.matchAll(PRE_TOKENIZER)) {
      const piece = this.bpe(match[0]);
      if (ids.length + piece.length > room && cutText === undefined) {
        const inPiece = Math.max(0, room - ids.length);
        const end = match.index + match[0].length;
        cutText = (inPiece > 0 ? this.decode(piece.slice(inPiece)) : match[0]) + cleaned.slice(end);
      }
      // One id at a time: spreading a long word's ids into push() overflows the call stack (a 200k-letter word).
      for (const id of piece) ids.push(id);
    }
    return { ids, cutText: cutText?.replace(/^ +| +$/g, '') ?? '' };
  }

  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    // Written in the prompt, the special tokens stay whole, as in the reference (they are in its BPE cache).
    const ids =
      piece === '<|startoftext|>' || piece === '<|endoftext|>'
        ? [this.vocab.get(piece) ?? this.unkId]
        : this.merge(piece).map((symbol) => this.vocab.get(symbol) ?? this.unkId);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /**
   * BPE of one piece, with the reference's result: repeatedly take the lowest-ranked adjacent pair present and merge
   * every occurrence of it, left to right. The reference rescans the whole word per merge, quadratic in its length
   * (a 200k-letter word took seconds); here the symbols form a linked list and each rank keeps the positions where
   * its pair appeared, taken lowest rank first from a heap, so each merge costs about log n. A position is merged
   * only if its pair is still there; symbols only grow, so a pair that is gone never comes back under the same rank.
   */
  private merge(piece: string): string[] {
    const symbols = Array.from(this.encoder.encode(piece), (b) => this.byteChars[b]!);
    symbols[symbols.length - 1] += '</w>';
    const n = symbols.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const positions = new Map<number, number[]>();
    const heap = new MinHeap();
    const addPair = (i: number) => {
      const j = next[i]!;
      if (j < 0) return;
      const rank = this.ranks.get(`${symbols[i]} ${symbols[j]}`);
      if (rank === undefined) return;
      const list = positions.get(rank);
      if (list) list.push(i);
      else {
        positions.set(rank, [i]);
        heap.push(rank);
      }
    };
    for (let i = 0; i + 1 < n; i++) addPair(i);
    while (heap.size > 0) {
      const rank = heap.pop();
      const list = positions.get(rank)!;
      positions.delete(rank);
      const [first, second] = this.pairs[rank]!;
      const merged: number[] = [];
      // Ascending positions are left to right: a merge keeps the left symbol's slot.
      list.sort((a, b) => a - b);
      for (const i of list) {
        const j = next[i]!;
        if (!alive[i] || j < 0 || symbols[i] !== first || symbols[j] !== second) continue;
        symbols[i] = first + second;
        alive[j] = 0;
        next[i] = next[j]!;
        if (next[j]! >= 0) prev[next[j]!] = i;
        merged.push(i);
      }
      // New pairs enter after the pass, as in the reference, which merges every occurrence before looking again.
      for (const i of merged) {
        if (prev[i]! >= 0) addPair(prev[i]!);
        addPair(i);
      }
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(symbols[i]!);
    return out;
  }
}

/** A binary min-heap of numbers (merge ranks). */
class MinHeap {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  push(value: number): void {
    const a = this.items;
    a.push(value);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= a[i]!) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

function parseObject(value: string | Record<string, unknown>, file: string): Record<string, unknown> {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (e) {
      throw new CorruptModelError(file, `it is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new CorruptModelError(file, 'it is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** A special token as tokenizer configs write it: a string, or an AddedToken object with `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}
