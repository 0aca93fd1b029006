/**
 * Typed model configs, parsed from the JSON that diffusers and transformers write next to the weights:
 * `unet/config.json` (UNet2DConditionModel), `vae/config.json` (AutoencoderKL), `text_encoder/config.json`
 * (CLIPTextModel), `scheduler/scheduler_config.json` and `model_index.json`.
 *
 * A missing key takes the default of the Python class that wrote the file, so a config that omits keys (older
 * diffusers versions wrote fewer) means what it means to diffusers. Keys this engine does not need are ignored;
 * keys that would change the architecture into one the engine does not implement are checked and refused with an
 * `UnsupportedModelError` rather than silently computing something else. Values of the wrong type or impossible
 * values raise an `InvalidConfigError`. Field names are the camelCase of the JSON keys.
 */
import { CorruptModelError, InvalidConfigError, UnsupportedModelError } from '../io/errors';

type Json = Record<string, unknown>;

// Python's json module writes NaN, Infinity and -Infinity as bare tokens (DPMSolverMultistepScheduler saves
// lambda_min_clipped = -Infinity); strings are matched first so the tokens are only replaced outside them.
const PY_NUMBER = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;
// A string no config contains (it starts with NUL), written escaped into the JSON text: raw control characters are
// not allowed inside JSON strings.
const PY_NUMBER_TAG = '\u0000py-number:';
const PY_NUMBER_TAG_ESCAPED = '\\u0000py-number:';

/** Parses config JSON text as Python writes it (bare NaN and ±Infinity allowed); the result must be an object. */
export function parseConfigJson(text: string, file: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(
      text.replace(PY_NUMBER, (token) => (token.startsWith('"') ? token : `"${PY_NUMBER_TAG_ESCAPED}${token}"`)),
      (_key, v: unknown) => (typeof v === 'string' && v.startsWith(PY_NUMBER_TAG) ? Number(v.slice(PY_NUMBER_TAG.length)) : v),
    );
  } catch (e) {
    throw new CorruptModelError(file, `it is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value === 'string') throw new CorruptModelError(file, 'it is not a JSON object');
  return asObject(value, file);
}

/** A config given as JSON text or as an already parsed value. */
function asObject(value: unknown, file: string): Json {
  if (typeof value === 'string') return parseConfigJson(value, file);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptModelError(file, 'it is not a JSON object');
  }
  return value as Json;
}

const show = (value: unknown): string => (typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value)));

/**
 * Reads typed values out of a config object. A missing key gives the default; `null` also gives the default for
 * keys whose Python default is `None` (the `nullable` readers), and is invalid elsewhere.
 */
class ConfigReader {
  constructor(
    readonly file: string,
    private readonly json: Json,
  ) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** The value as written, for keys with shapes the typed readers do not cover. */
  raw(key: string): unknown {
    return this.json[key];
  }

  invalid(key: string, detail: string): InvalidConfigError {
    return new InvalidConfigError(this.file, key, detail);
  }

  unsupported(key: string, detail: string): UnsupportedModelError {
    return new UnsupportedModelError(this.file, key, detail);
  }

  private get(key: string): unknown {
    const value = this.json[key];
    if (value === null) throw this.invalid(key, 'it is null');
    return value;
  }

  int(key: string, fallback: number, min = 0): number {
    const v = this.get(key);
    if (v === undefined) return fallback;
    return this.checkInt(key, v, min);
  }

  nullableInt(key: string, min = 0): number | null {
    const v = this.json[key];
    return v === undefined || v === null ? null : this.checkInt(key, v, min);
  }

  private checkInt(key: string, v: unknown, min: number): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw this.invalid(key, `${show(v)} is not an integer ≥ ${min}`);
    }
    return v;
  }

  /** A finite number, or also ±Infinity where `allowInfinite`. */
  num(key: string, fallback: number, { positive = false, allowInfinite = false } = {}): number {
    const v = this.get(key);
    if (v === undefined) return fallback;
    return this.checkNum(key, v, positive, allowInfinite);
  }

  nullableNum(key: string, { positive = false } = {}): number | null {
    const v = this.json[key];
    return v === undefined || v === null ? null : this.checkNum(key, v, positive, false);
  }

  private checkNum(key: string, v: unknown, positive: boolean, allowInfinite: boolean): number {
    if (typeof v !== 'number' || Number.isNaN(v) || (!allowInfinite && !Number.isFinite(v)) || (positive && v <= 0)) {
      throw this.invalid(key, `${show(v)} is not a ${positive ? 'positive' : 'finite'} number`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.get(key);
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw this.invalid(key, `${show(v)} is not true or false`);
    return v;
  }

  /** One of `supported`; any other string is an architecture this engine does not implement. */
  choice<T extends string>(key: string, fallback: T, supported: readonly T[]): T {
    const v = this.get(key);
    if (v === undefined) return fallback;
    return this.checkChoice(key, v, supported);
  }

  private checkChoice<T extends string>(key: string, v: unknown, supported: readonly T[]): T {
    if (typeof v !== 'string') throw this.invalid(key, `${show(v)} is not a string`);
    if (!(supported as readonly string[]).includes(v)) {
      throw this.unsupported(key, `with the value "${v}" (supported: ${supported.join(', ')})`);
    }
    return v as T;
  }

  choiceList<T extends string>(key: string, fallback: readonly T[], supported: readonly T[]): T[] {
    const v = this.get(key);
    if (v === undefined) return [...fallback];
    if (!Array.isArray(v) || v.length === 0) throw this.invalid(key, `${show(v)} is not a non-empty list`);
    return v.map((item) => this.checkChoice(key, item, supported));
  }

  intList(key: string, fallback: readonly number[], min = 1): number[] {
    const v = this.get(key);
    if (v === undefined) return [...fallback];
    if (!Array.isArray(v) || v.length === 0) throw this.invalid(key, `${show(v)} is not a non-empty list of integers`);
    return v.map((item) => this.checkInt(key, item, min));
  }

  /** An integer for every block, or one integer meaning the same for all `blocks`. */
  perBlock(key: string, fallback: number, blocks: number, min = 1): number[] {
    const v = this.get(key);
    if (v === undefined) return new Array<number>(blocks).fill(fallback);
    if (!Array.isArray(v)) return new Array<number>(blocks).fill(this.checkInt(key, v, min));
    if (v.length !== blocks) throw this.invalid(key, `${show(v)} has ${v.length} entries for ${blocks} blocks`);
    return v.map((item) => this.checkInt(key, item, min));
  }

  /** Keys that must keep their default: other values switch on features this engine does not implement. */
  fixed(key: string, ...accepted: unknown[]): void {
    const v = this.json[key];
    if (v === undefined || accepted.some((a) => a === v)) return;
    throw this.unsupported(key, `with the value ${show(v)} (only ${accepted.map(show).join(' or ')} is supported)`);
  }

  className(expected: readonly string[]): void {
    const v = this.json['_class_name'];
    if (v === undefined) return;
    if (typeof v !== 'string' || !expected.includes(v)) {
      throw this.unsupported('_class_name', `with the value ${show(v)} (expected ${expected.join(' or ')})`);
    }
  }
}

// ───────────────────────────── UNet2DConditionModel ─────────────────────────────

export type UNetDownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UNetUpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

/**
 * UNet2DConditionModel. Level i (0 = full latent resolution) has `blockOutChannels[i]` channels; the down path runs
 * levels 0 … n−1, the mid block works at level n−1, and up block i works at level n−1−i. Channel flow, as diffusers
 * builds it: down block i has `layersPerBlock` resnets, the first mapping blockOutChannels[i−1] (blockOutChannels[0]
 * for i = 0, after conv_in) to blockOutChannels[i], each followed by a transformer when `downBlockAttention[i]`, and
 * a stride-2 conv unless it is the last; conv_in's output and every resnet and downsampler output are skip connections. Up block i has `layersPerBlock + 1` resnets, each taking the running tensor
 * concatenated with the next skip connection of the down path (popped last-in first-out), each followed by a
 * transformer when `upBlockAttention[i]`, and an upsampler unless it is the last.
 * Per-level lists (`heads`, `headDims`, `transformerLayers`) are indexed by level, so up block i uses entry n−1−i.
 */
export interface UNetConfig {
  /** Latent side the model was trained at (64 → 512 px for SD 1.x). diffusers defaults to none; we use 64. */
  sampleSize: number;
  /** 4, or 9 for inpainting models (latents + mask + masked-image latents). */
  inChannels: number;
  outChannels: number;
  /** Channels of each level, full resolution first. Default [320, 640, 1280, 1280]. */
  blockOutChannels: number[];
  downBlockTypes: UNetDownBlockType[];
  upBlockTypes: UNetUpBlockType[];
  /** down_block_types[i] is CrossAttnDownBlock2D. */
  downBlockAttention: boolean[];
  /** up_block_types[i] is CrossAttnUpBlock2D (up order: the lowest resolution first). */
  upBlockAttention: boolean[];
  midBlockType: 'UNetMidBlock2DCrossAttn';
  /** Resnets per down block; up blocks have one more. Default 2. A per-block list must repeat one value. */
  layersPerBlock: number;
  /** Transformer blocks in each level's attention (per level). Default 1. */
  transformerLayers: number[];
  /**
   * Attention heads per level. `num_attention_heads` when given, else `attention_head_dim`, which despite its name
   * holds the head COUNT in every SD checkpoint (a diffusers naming mistake kept for compatibility):
   * SD 1.x: 8 heads at every level; SD 2.x: [5, 10, 20, 20], i.e. 64 channels per head.
   */
  heads: number[];
  /** Channels per head per level: blockOutChannels[i] / heads[i] (SD 1.5: 40, 80, 160, 160; SD 2.x: 64); checked to be whole at levels with attention. */
  headDims: number[];
  /** Width of the text embeddings cross-attention reads (768 SD 1.x, 1024 SD 2.x). Default 1280. */
  crossAttentionDim: number;
  /** SD 2.x: the transformers' proj_in/proj_out are Linear layers instead of 1×1 convs (weights [C, C] not [C, C, 1, 1]). */
  useLinearProjection: boolean;
  /** SD 2.1: attention scores in f32 to avoid f16 overflow (this engine always accumulates them in f32). */
  upcastAttention: boolean;
  /** GroupNorm groups (default 32) and epsilon (default 1e-5) of resnets and transformers. */
  normNumGroups: number;
  normEps: number;
  actFn: 'silu';
  /** Sinusoidal timestep embedding of width blockOutChannels[0]: cos half first when true (default); exponent shift (default 0). */
  flipSinToCos: boolean;
  freqShift: number;
  /** Width of the time embedding MLP's output. Default blockOutChannels[0] × 4. */
  timeEmbeddingDim: number;
  /** LCM-distilled UNets embed the guidance scale through a projection of this width; null for ordinary UNets. */
  timeCondProjDim: number | null;
}

const UNET_DOWN_BLOCKS: readonly UNetDownBlockType[] = ['CrossAttnDownBlock2D', 'DownBlock2D'];
const UNET_UP_BLOCKS: readonly UNetUpBlockType[] = ['CrossAttnUpBlock2D', 'UpBlock2D'];

/** Parses `unet/config.json` (an object or its JSON text). */
export function parseUNetConfig(json: unknown, file = 'unet/config.json'): UNetConfig {
  const r = new ConfigReader(file, asObject(json, file));
  r.className(['UNet2DConditionModel']);

  // Features of other model families (SDXL, upscalers, unCLIP, Kandinsky...) whose weights or maths differ.
  r.fixed('center_input_sample', false);
  r.fixed('dual_cross_attention', false);
  r.fixed('class_embed_type', null);
  r.fixed('num_class_embeds', null);
  r.fixed('addition_embed_type', null);
  r.fixed('encoder_hid_dim', null);
  r.fixed('encoder_hid_dim_type', null);
  r.fixed('time_embedding_type', 'positional');
  r.fixed('time_embedding_act_fn', null);
  r.fixed('timestep_post_act', null);
  r.fixed('resnet_time_scale_shift', 'default');
  r.fixed('resnet_skip_time_act', false);
  r.fixed('resnet_out_scale_factor', 1);
  r.fixed('mid_block_scale_factor', 1);
  r.fixed('mid_block_only_cross_attention', null, false);
  r.fixed('cross_attention_norm', null);
  r.fixed('attention_type', 'default');
  r.fixed('reverse_transformer_layers_per_block', null);
  r.fixed('conv_in_kernel', 3);
  r.fixed('conv_out_kernel', 3);
  r.fixed('downsample_padding', 1);
  const onlyCross = r.raw('only_cross_attention');
  if (onlyCross !== undefined && onlyCross !== false && !(Array.isArray(onlyCross) && onlyCross.every((v) => v === false))) {
    throw r.unsupported('only_cross_attention', `with the value ${show(onlyCross)} (only false is supported)`);
  }
  if (r.raw('mid_block_type') === null) throw r.unsupported('mid_block_type', 'as null (a UNet without a mid block)');
  if (Array.isArray(r.raw('sample_size'))) throw r.unsupported('sample_size', 'as a [height, width] list');
  if (Array.isArray(r.raw('cross_attention_dim'))) throw r.unsupported('cross_attention_dim', 'as a per-block list');

  const downBlockTypes = r.choiceList('down_block_types', ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'], UNET_DOWN_BLOCKS);
  const upBlockTypes = r.choiceList('up_block_types', ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'], UNET_UP_BLOCKS);
  const blockOutChannels = r.intList('block_out_channels', [320, 640, 1280, 1280]);
  const n = blockOutChannels.length;
  if (downBlockTypes.length !== n || upBlockTypes.length !== n) {
    throw r.invalid('block_out_channels', `${n} levels but ${downBlockTypes.length} down and ${upBlockTypes.length} up block types`);
  }
  const normNumGroups = r.int('norm_num_groups', 32, 1);
  for (const c of blockOutChannels) {
    if (c % normNumGroups !== 0) throw r.invalid('block_out_channels', `${c} channels do not split into ${normNumGroups} norm groups`);
  }
  const layers = r.perBlock('layers_per_block', 2, n);
  if (layers.some((l) => l !== layers[0])) throw r.unsupported('layers_per_block', `with different values per block (${show(layers)})`);

  const headsKey = r.has('num_attention_heads') ? 'num_attention_heads' : 'attention_head_dim';
  const heads = r.perBlock(headsKey, 8, n);
  const headDims = blockOutChannels.map((c, i) => c / heads[i]!);
  // Levels with attention: cross-attention down blocks, the mid block (last level), cross-attention up blocks.
  const attended = blockOutChannels.map((_, level) =>
    level === n - 1 || downBlockTypes[level] === 'CrossAttnDownBlock2D' || upBlockTypes[n - 1 - level] === 'CrossAttnUpBlock2D');
  for (let level = 0; level < n; level++) {
    if (!attended[level]) continue;
    if (!Number.isInteger(headDims[level])) {
      throw r.invalid(headsKey, `${blockOutChannels[level]} channels do not split into ${heads[level]} heads`);
    }
  }

  return {
    sampleSize: r.nullableInt('sample_size', 1) ?? 64,
    inChannels: r.int('in_channels', 4, 1),
    outChannels: r.int('out_channels', 4, 1),
    blockOutChannels,
    downBlockTypes,
    upBlockTypes,
    downBlockAttention: downBlockTypes.map((t) => t === 'CrossAttnDownBlock2D'),
    upBlockAttention: upBlockTypes.map((t) => t === 'CrossAttnUpBlock2D'),
    midBlockType: r.choice('mid_block_type', 'UNetMidBlock2DCrossAttn', ['UNetMidBlock2DCrossAttn'] as const),
    layersPerBlock: layers[0]!,
    transformerLayers: r.perBlock('transformer_layers_per_block', 1, n),
    heads,
    headDims,
    crossAttentionDim: r.int('cross_attention_dim', 1280, 1),
    useLinearProjection: r.bool('use_linear_projection', false),
    upcastAttention: r.bool('upcast_attention', false),
    normNumGroups,
    normEps: r.num('norm_eps', 1e-5, { positive: true }),
    actFn: r.choice('act_fn', 'silu', ['silu'] as const),
    flipSinToCos: r.bool('flip_sin_to_cos', true),
    freqShift: r.num('freq_shift', 0),
    timeEmbeddingDim: r.nullableInt('time_embedding_dim', 1) ?? blockOutChannels[0]! * 4,
    timeCondProjDim: r.nullableInt('time_cond_proj_dim', 1),
  };
}

// ───────────────────────────── AutoencoderKL ─────────────────────────────

export interface VaeConfig {
  /** Image channels (3) and latent channels (4). */
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  /** Channels per level, encoder order (full resolution first); the decoder walks it in reverse. */
  blockOutChannels: number[];
  /** Resnets per encoder block; decoder blocks have one more. SD: 2 (diffusers' default is 1). */
  layersPerBlock: number;
  normNumGroups: number;
  /** GroupNorm epsilon: fixed at 1e-6 inside diffusers' Encoder/Decoder, not a config key. */
  normEps: number;
  actFn: 'silu';
  /** Image side the VAE was trained at. */
  sampleSize: number;
  /** latents = scalingFactor × (encoder sample − shiftFactor): 0.18215 for SD 1.x/2.x; shift is absent (0). */
  scalingFactor: number;
  shiftFactor: number;
  /** The VAE overflows in f16 (SD 1.x/2.x): keep it in f32 when activations are stored in f16. */
  forceUpcast: boolean;
  /** 1×1 convs between the encoder and the latent (quant_conv) and before the decoder (post_quant_conv). */
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  /** Single-head self-attention in the mid blocks of encoder and decoder. */
  midBlockAddAttention: boolean;
}

/** Parses `vae/config.json` (an object or its JSON text). */
export function parseVaeConfig(json: unknown, file = 'vae/config.json'): VaeConfig {
  const r = new ConfigReader(file, asObject(json, file));
  r.className(['AutoencoderKL']);
  r.fixed('latents_mean', null);
  r.fixed('latents_std', null);
  const blockOutChannels = r.intList('block_out_channels', [64]);
  const down = r.choiceList('down_block_types', ['DownEncoderBlock2D'], ['DownEncoderBlock2D'] as const);
  const up = r.choiceList('up_block_types', ['UpDecoderBlock2D'], ['UpDecoderBlock2D'] as const);
  if (down.length !== blockOutChannels.length || up.length !== blockOutChannels.length) {
    throw r.invalid('block_out_channels', `${blockOutChannels.length} levels but ${down.length} down and ${up.length} up block types`);
  }
  const normNumGroups = r.int('norm_num_groups', 32, 1);
  for (const c of blockOutChannels) {
    if (c % normNumGroups !== 0) throw r.invalid('block_out_channels', `${c} channels do not split into ${normNumGroups} norm groups`);
  }
  return {
    inChannels: r.int('in_channels', 3, 1),
    outChannels: r.int('out_channels', 3, 1),
    latentChannels: r.int('latent_channels', 4, 1),
    blockOutChannels,
    layersPerBlock: r.int('layers_per_block', 1, 1),
    normNumGroups,
    normEps: 1e-6,
    actFn: r.choice('act_fn', 'silu', ['silu'] as const),
    sampleSize: r.int('sample_size', 32, 1),
    scalingFactor: r.num('scaling_factor', 0.18215, { positive: true }),
    shiftFactor: r.nullableNum('shift_factor') ?? 0,
    forceUpcast: r.bool('force_upcast', true),
    useQuantConv: r.bool('use_quant_conv', true),
    usePostQuantConv: r.bool('use_post_quant_conv', true),
    midBlockAddAttention: r.bool('mid_block_add_attention', true),
  };
}

// ───────────────────────────── CLIPTextModel ─────────────────────────────

export interface ClipTextConfig {
  vocabSize: number;
  /** Width of the token embeddings and of every layer (768 for SD 1.x's CLIP ViT-L/14, 1024 for SD 2.x's OpenCLIP ViT-H/14). */
  hiddenSize: number;
  /** Hidden width of each MLP. */
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** hiddenSize / numAttentionHeads. */
  headDim: number;
  /** Sequence length: 77. */
  maxPositionEmbeddings: number;
  /** MLP activation: quick_gelu x·σ(1.702x) in OpenAI CLIP (SD 1.x); exact erf gelu in OpenCLIP (SD 2.x). */
  hiddenAct: 'quick_gelu' | 'gelu';
  layerNormEps: number;
  /** Width of text_projection (used for pooled embeddings only, not by Stable Diffusion's UNet). */
  projectionDim: number;
  padTokenId: number;
  bosTokenId: number;
  eosTokenId: number;
}

/** Parses `text_encoder/config.json` (an object or its JSON text); defaults are transformers' CLIPTextConfig. */
export function parseClipTextConfig(json: unknown, file = 'text_encoder/config.json'): ClipTextConfig {
  const r = new ConfigReader(file, asObject(json, file));
  const architectures = r.raw('architectures');
  if (architectures !== undefined && architectures !== null) {
    if (!Array.isArray(architectures)) throw r.invalid('architectures', `${show(architectures)} is not a list`);
    if (!architectures.some((a) => a === 'CLIPTextModel' || a === 'CLIPTextModelWithProjection')) {
      throw r.unsupported('architectures', `with the value ${show(architectures)} (expected CLIPTextModel)`);
    }
  }
  r.fixed('model_type', 'clip_text_model');
  const hiddenSize = r.int('hidden_size', 512, 1);
  const numAttentionHeads = r.int('num_attention_heads', 8, 1);
  if (hiddenSize % numAttentionHeads !== 0) {
    throw r.invalid('num_attention_heads', `${hiddenSize} channels do not split into ${numAttentionHeads} heads`);
  }
  const vocabSize = r.int('vocab_size', 49408, 1);
  const tokenId = (key: string, fallback: number): number => {
    const id = r.int(key, fallback);
    // Only bos/eos/pad ids inside the vocabulary can be embedded; transformers' legacy defaults are 0, 1, 2.
    if (id >= vocabSize) throw r.invalid(key, `${id} is outside the ${vocabSize}-token vocabulary`);
    return id;
  };
  return {
    vocabSize,
    hiddenSize,
    intermediateSize: r.int('intermediate_size', 2048, 1),
    numHiddenLayers: r.int('num_hidden_layers', 12, 1),
    numAttentionHeads,
    headDim: hiddenSize / numAttentionHeads,
    maxPositionEmbeddings: r.int('max_position_embeddings', 77, 1),
    hiddenAct: r.choice('hidden_act', 'quick_gelu', ['quick_gelu', 'gelu'] as const),
    layerNormEps: r.num('layer_norm_eps', 1e-5, { positive: true }),
    projectionDim: r.int('projection_dim', 512, 1),
    padTokenId: tokenId('pad_token_id', 1),
    bosTokenId: tokenId('bos_token_id', 49406),
    eosTokenId: tokenId('eos_token_id', 49407),
  };
}

// ───────────────────────────── Schedulers ─────────────────────────────

/** The diffusers scheduler classes this engine implements, by the name the UI and the command line use. */
export const SCHEDULER_CLASSES = {
  DDIMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler-a',
  DPMSolverMultistepScheduler: 'dpm++2m',
  PNDMScheduler: 'pndm',
  LCMScheduler: 'lcm',
} as const;

/** The scheduler name of a diffusers class (a model's default scheduler), or undefined if not implemented. */
export function schedulerNameOfClass(className: string): (typeof SCHEDULER_CLASSES)[keyof typeof SCHEDULER_CLASSES] | undefined {
  return Object.hasOwn(SCHEDULER_CLASSES, className) ? SCHEDULER_CLASSES[className as keyof typeof SCHEDULER_CLASSES] : undefined;
}

/**
 * `scheduler/scheduler_config.json`, type-checked, under the diffusers key names. Every key is optional: which
 * default a missing key takes depends on the class the config is loaded into (`Class.from_config`), not on the class
 * that wrote it, so the defaults are applied by the schedulers (engine/schedulers); they are listed here per key.
 * Keys set to `null` are left out (null means "the default" for every key). Values that select a method no
 * implemented scheduler has are refused here; a scheduler may still refuse a value its own class lacks.
 */
export interface SchedulerConfig {
  /** The class that wrote the config: the model's default scheduler. */
  _class_name?: string;
  /** Length of the training noise schedule. Default 1000. */
  num_train_timesteps?: number;
  /** β of the first and last training step. Default 0.0001 / 0.02 (LCM: 0.00085 / 0.012, what SD ships). */
  beta_start?: number;
  beta_end?: number;
  /** linear in β; scaled_linear: linear in √β (SD's); squaredcos_cap_v2: cosine. Default linear (LCM: scaled_linear). */
  beta_schedule?: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Explicit β for every training step; overrides the schedule. Default none. */
  trained_betas?: number[];
  /** What the UNet predicts: noise (SD 1.x, SD 2 base) or v (SD 2.x 768 models). Default epsilon. */
  prediction_type?: 'epsilon' | 'v_prediction' | 'sample';
  /**
   * How inference timesteps are picked: leading (k·T/N + steps_offset), trailing (counted down from T: few-step
   * models), linspace (both ends included). Default leading (DDIM, PNDM, LCM), linspace (Euler, Euler a, DPM++).
   */
  timestep_spacing?: 'leading' | 'trailing' | 'linspace';
  /** Added to leading timesteps. Default 0; SD checkpoints ship 1. */
  steps_offset?: number;
  /** DDIM, LCM: clip the predicted x₀ to ±clip_sample_range. Default true (DDIM), false (LCM); range 1. */
  clip_sample?: boolean;
  clip_sample_range?: number;
  /** DDIM, PNDM, LCM: ᾱ after the last step is 1 (else ᾱ₀). Default true (DDIM, LCM), false (PNDM). */
  set_alpha_to_one?: boolean;
  /** PNDM: skip the Runge–Kutta warm-up, PLMS only. Default false; SD checkpoints ship true. */
  skip_prk_steps?: boolean;
  /** DDIM, Euler, Euler a, DPM++, LCM: rescale β to zero terminal SNR. Default false. */
  rescale_betas_zero_snr?: boolean;
  /** DDIM, DPM++, LCM: dynamic thresholding of x₀, for pixel-space models. Default false; true is refused. */
  thresholding?: false;
  /** Euler, DPM++: Karras et al. (2022) sigma spacing. Default false. */
  use_karras_sigmas?: boolean;
  /** Euler, DPM++: the sigma after the last step, 0 or the smallest training sigma. Default zero. */
  final_sigmas_type?: 'zero' | 'sigma_min';
  /** DPM++: the algorithm; only dpmsolver++ is implemented. Default dpmsolver++. */
  algorithm_type?: 'dpmsolver++';
  /** DPM++: multistep order, 1 to 3. Default 2 (DPM++ 2M). */
  solver_order?: number;
  /** DPM++: second-order update formula. Default midpoint. */
  solver_type?: 'midpoint' | 'heun';
  /** DPM++: lower the order for the last steps of runs under 15 steps. Default true. */
  lower_order_final?: boolean;
  /** DPM++: first-order last step always. Default false. */
  euler_at_final?: boolean;
  /** DPM++: clip λ(t) from below. Default −Infinity (Python writes the bare token -Infinity). */
  lambda_min_clipped?: number;
  /** LCM: steps of the distillation schedule (default 50) and the boundary-condition time scale (default 10). */
  original_inference_steps?: number;
  timestep_scaling?: number;
  /** Euler: Karras sigma bounds. Default: from the training schedule. */
  sigma_min?: number;
  sigma_max?: number;
  /** Method switches no implemented scheduler has: only their defaults are accepted. */
  use_exponential_sigmas?: false;
  use_beta_sigmas?: false;
  use_lu_lambdas?: false;
  use_flow_sigmas?: false;
  interpolation_type?: 'linear';
  timestep_type?: 'discrete';
}

/** Parses `scheduler/scheduler_config.json` (an object or its JSON text, Python's -Infinity included). */
export function parseSchedulerConfig(json: unknown, file = 'scheduler/scheduler_config.json'): SchedulerConfig {
  const r = new ConfigReader(file, asObject(json, file));
  const out: Record<string, unknown> = {};
  const take = (key: keyof SchedulerConfig, read: () => unknown) => {
    if (r.has(key)) out[key] = read();
  };
  const className = r.raw('_class_name');
  if (className !== undefined && typeof className !== 'string') throw r.invalid('_class_name', `${show(className)} is not a string`);
  take('_class_name', () => className);
  for (const key of ['num_train_timesteps', 'original_inference_steps'] as const) take(key, () => r.int(key, 0, 1));
  take('steps_offset', () => r.int('steps_offset', 0));
  take('solver_order', () => r.int('solver_order', 0, 1));
  if ((out['solver_order'] as number) > 3) throw r.unsupported('solver_order', `with the value ${show(out['solver_order'])} (orders 1 to 3)`);
  for (const key of ['beta_start', 'beta_end'] as const) {
    take(key, () => r.num(key, 0, { positive: true }));
    if ((out[key] as number) >= 1) throw r.invalid(key, `${show(out[key])} is not below 1`);
  }
  for (const key of ['clip_sample_range', 'timestep_scaling', 'sigma_min', 'sigma_max'] as const) {
    take(key, () => r.num(key, 0, { positive: true }));
  }
  take('lambda_min_clipped', () => r.num('lambda_min_clipped', 0, { allowInfinite: true }));
  const bools = ['clip_sample', 'set_alpha_to_one', 'skip_prk_steps', 'rescale_betas_zero_snr', 'use_karras_sigmas', 'lower_order_final', 'euler_at_final'] as const;
  for (const key of bools) take(key, () => r.bool(key, false));
  take('beta_schedule', () => r.choice('beta_schedule', 'linear', ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const));
  take('prediction_type', () => r.choice('prediction_type', 'epsilon', ['epsilon', 'v_prediction', 'sample'] as const));
  take('timestep_spacing', () => r.choice('timestep_spacing', 'leading', ['leading', 'trailing', 'linspace'] as const));
  take('final_sigmas_type', () => r.choice('final_sigmas_type', 'zero', ['zero', 'sigma_min'] as const));
  take('solver_type', () => r.choice('solver_type', 'midpoint', ['midpoint', 'heun'] as const));
  // Methods of the diffusers classes that no scheduler here implements.
  const fixed = {
    thresholding: false, use_exponential_sigmas: false, use_beta_sigmas: false, use_lu_lambdas: false, use_flow_sigmas: false,
    algorithm_type: 'dpmsolver++', interpolation_type: 'linear', timestep_type: 'discrete',
  } as const;
  for (const [key, value] of Object.entries(fixed)) {
    r.fixed(key, value, null);
    take(key as keyof SchedulerConfig, () => value);
  }
  r.fixed('variance_type', null);

  take('trained_betas', () => {
    const betas = r.raw('trained_betas');
    const n = out['num_train_timesteps'] ?? 1000;
    if (!Array.isArray(betas) || betas.length !== n || !betas.every((b) => typeof b === 'number' && b > 0 && b < 1)) {
      throw r.invalid('trained_betas', `expected a list of ${n} numbers in (0, 1) (one per training step)`);
    }
    return betas;
  });
  return out as SchedulerConfig;
}

// ───────────────────────────── model_index.json ─────────────────────────────

export interface ModelIndex {
  /** e.g. StableDiffusionPipeline. */
  pipelineClass: string;
  /** The class of the model's default scheduler, e.g. PNDMScheduler (see `schedulerKindOfClass`). */
  schedulerClass: string;
  /** Component folder → [library, class]; components saved as [null, null] (no safety checker) are left out. */
  components: Record<string, { library: string; className: string }>;
}

/** The components a Stable Diffusion 1.x/2.x folder must have, with the classes this engine can load. */
const REQUIRED_COMPONENTS: Readonly<Record<string, readonly string[]>> = {
  text_encoder: ['CLIPTextModel'],
  tokenizer: ['CLIPTokenizer', 'CLIPTokenizerFast'],
  unet: ['UNet2DConditionModel'],
  vae: ['AutoencoderKL'],
};
/** Components that may be present and are not needed to generate images. */
const OPTIONAL_COMPONENTS = ['scheduler', 'safety_checker', 'feature_extractor', 'image_encoder'];

/** Parses `model_index.json` (an object or its JSON text) and checks the folder is a pipeline this engine runs. */
export function parseModelIndex(json: unknown, file = 'model_index.json'): ModelIndex {
  const object = asObject(json, file);
  const r = new ConfigReader(file, object);
  const pipelineClass = r.raw('_class_name');
  if (typeof pipelineClass !== 'string') throw r.invalid('_class_name', `${show(pipelineClass)} is not a pipeline class name`);
  const components: ModelIndex['components'] = {};
  for (const [name, value] of Object.entries(object)) {
    if (name.startsWith('_') || !Array.isArray(value)) continue;
    const [library, className] = value as unknown[];
    if (library === null && className === null) continue;
    if (value.length !== 2 || typeof library !== 'string' || typeof className !== 'string') {
      throw r.invalid(name, `${show(value)} is not a [library, class] pair`);
    }
    components[name] = { library, className };
  }
  for (const [name, classes] of Object.entries(REQUIRED_COMPONENTS)) {
    const c = components[name];
    if (!c) throw r.unsupported(name, `missing (a Stable Diffusion folder has ${Object.keys(REQUIRED_COMPONENTS).join(', ')} and scheduler)`);
    if (!classes.includes(c.className)) throw r.unsupported(name, `with the class ${c.className} (expected ${classes.join(' or ')})`);
  }
  const scheduler = components['scheduler'];
  if (!scheduler) throw r.unsupported('scheduler', 'missing');
  for (const name of Object.keys(components)) {
    if (!(name in REQUIRED_COMPONENTS) && !OPTIONAL_COMPONENTS.includes(name)) {
      throw r.unsupported(name, `as an extra component (${pipelineClass} needs more than a Stable Diffusion 1.x/2.x pipeline has)`);
    }
  }
  return { pipelineClass, schedulerClass: scheduler.className, components };
}
