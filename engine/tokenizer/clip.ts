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
}

export class ClipTokenizer {
  private readonly byteChars = byteToUnicode();
  private readonly cache = new Map<string, number[]>();
  private readonly encoder = new TextEncoder();

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly ranks: ReadonlyMap<string, number>,
    readonly bosId: number,
    readonly eosId: number,
    readonly padId: number,
    readonly unkId: number,
    /** Context length including start and end tokens (77). */
    readonly maxLength: number,
  ) {}

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
    const ids: number[] = [];
    for (const [piece] of ClipTokenizer.clean(text).matchAll(PRE_TOKENIZER)) ids.push(...this.bpe(piece));
    return ids;
  }

  /** The `maxLength` ids the text encoder takes, and how many text tokens did not fit. */
  tokenize(text: string): TokenizedPrompt {
    const tokens = this.encode(text);
    const room = this.maxLength - 2;
    const kept = tokens.slice(0, room);
    const ids = [this.bosId, ...kept, this.eosId];
    while (ids.length < this.maxLength) ids.push(this.padId);
    return { ids, truncated: tokens.length - kept.length };
  }

  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    let ids: number[];
    if (piece === '<|startoftext|>' || piece === '<|endoftext|>') {
      // Written in the prompt, the special tokens stay whole, as in the reference (they are in its BPE cache).
      ids = [this.vocab.get(piece) ?? this.unkId];
    } else {
      let word = Array.from(this.encoder.encode(piece), (b) => this.byteChars[b]!);
      word[word.length - 1] += '</w>';
      while (word.length > 1) {
        let best = Infinity;
        let first = '';
        let second = '';
        for (let i = 0; i + 1 < word.length; i++) {
          const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
          if (rank !== undefined && rank < best) {
            best = rank;
            first = word[i]!;
            second = word[i + 1]!;
          }
        }
        if (best === Infinity) break;
        const merged: string[] = [];
        for (let i = 0; i < word.length; i++) {
          if (word[i] === first && word[i + 1] === second) {
            merged.push(first + second);
            i++;
          } else {
            merged.push(word[i]!);
          }
        }
        word = merged;
      }
      ids = word.map((symbol) => this.vocab.get(symbol) ?? this.unkId);
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
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
