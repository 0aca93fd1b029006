/**
 * GroupNorm on channels-last activations, with the UNet ResNet block's fusions:
 *
 *   v = x + add[b, c]            (optional: the time-embedding projection, broadcast over space: norm2(h + temb))
 *   y = (v − μ_bg) / √(σ²_bg + eps) · gamma[c] + beta[c],   then optionally y = silu(y)
 *
 * μ_bg and σ²_bg (biased) run over the spatial positions and the C/G consecutive channels of group g in batch b.
 * x is f32 [B, H, W, C] or [B, T, C] (any [B, ..., C]: the middle dimensions are one spatial axis), gamma and beta
 * f32 [C], add f32 [B, C] or a window of C channels of a wider [B, W] tensor (the UNet projects the time embedding
 * for all its ResNet blocks in one GEMM). SD 1.5 uses 32 groups with eps 1e-5 in the UNet and 1e-6 in the VAE.
 *
 * Statistics are f32 Welford moments merged with Chan's formula, never E[x²] − E[x]², so a group with a large mean
 * keeps its variance. Two ways to run, the same arithmetic:
 * - 'single' (groups of at most SINGLE_MAX_VALUES): one workgroup per (batch, group) computes the moments and then
 *   writes the normalised group, reading x twice: one dispatch. 58 of the 61 GroupNorms of SD 1.5's UNet at 512²
 *   (groups of up to 64·64·10 = 40960 values, or 32·32·60 at the widest skip join) take this path.
 * - 'split' (larger groups: 64·64·30 at the UNet's widest 64×64 join, and the VAE's): each (batch, group) is split over
 *   several workgroups (chunks of ~4096 values), whose B·G workgroups alone would leave a large GPU idle; a small
 *   pass merges the chunks and folds mean, rstd, gamma, beta and add into one (centre, scale, shift) entry per
 *   (batch, channel); the apply pass is then one load and one FMA per element. Three dispatches.
 * The result may go to a channel slice of a wider tensor (`out`).
 *
 * `groupNormBands` runs the split form on a tensor held as row bands, each its own buffer (the VAE decoder at sizes
 * where one buffer would pass the binding limit, engine/models/bands.ts): one statistics dispatch per band writes
 * its chunks' moments into one shared partials buffer, one finalize merges them all, so every band is normalised
 * with the whole tensor's statistics, then one apply dispatch per band.
 */
import activations from '../../shaders/activations.wgsl?raw';
import source from '../../shaders/group-norm.wgsl?raw';
import { resolveOutput, uniforms, type GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import { isChannelSlice, numel, shapeString, type ChannelSlice, type Output, type Tensor } from '../gpu/tensor';
import { preprocess } from '../gpu/wgsl';

export interface GroupNormOptions {
  /** Number of groups; must divide the channel count (32 in SD). */
  groups: number;
  /** Added to the variance: 1e-5 in the UNet, 1e-6 in the VAE. */
  eps: number;
  /** Apply SiLU after the affine transform. */
  silu?: boolean;
  /** f32 [B, C] (or C channels of a wider [B, W]), added to x per (batch, channel) before the statistics. */
  add?: Tensor | ChannelSlice;
  out?: Output;
  /** One dispatch or three (see above); default by group size. */
  passes?: 'single' | 'split';
}

const STATS_WG = 256;
const FINALIZE_WG = 64;
const APPLY_WG = 256;
const APPLY_PER_THREAD = 4;
/** Values of one group that one statistics workgroup folds: 16 per invocation. */
const CHUNK_VALUES = 4096;
/** Largest group the single pass takes: 256 values per invocation and pass. */
export const SINGLE_MAX_VALUES = 65536;

function validate(x: Tensor, gamma: Tensor, beta: Tensor, opts: GroupNormOptions): void {
  const { groups, eps, add } = opts;
  const channels = x.shape[x.shape.length - 1] ?? 0;
  if (x.format !== 'f32' || x.shape.length < 2 || numel(x.shape) === 0) {
    throw new ShapeError(`group-norm: needs a non-empty f32 tensor [B, H, W, C] or [B, T, C], got ${x.format} ${shapeString(x.shape)}`);
  }
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new ShapeError(`group-norm: ${groups} groups do not divide the ${channels} channels of ${shapeString(x.shape)}`);
  }
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.format !== 'f32' || t.shape.length !== 1 || t.shape[0] !== channels) {
      throw new ShapeError(`group-norm: ${name} must be f32 [${channels}] for input ${shapeString(x.shape)}, got ${t.format} ${shapeString(t.shape)}`);
    }
  }
  if (add) {
    const t = isChannelSlice(add) ? add.tensor : add;
    const offset = isChannelSlice(add) ? add.offset : 0;
    const width = t.shape[1] ?? 0;
    const fits = isChannelSlice(add) ? Number.isInteger(offset) && offset >= 0 && offset + channels <= width : width === channels;
    if (t.format !== 'f32' || t.shape.length !== 2 || t.shape[0] !== x.shape[0] || !fits) {
      throw new ShapeError(
        `group-norm: add must be f32 [${x.shape[0]},${channels}] (one value per batch and channel) or ${channels} channels of a wider [${x.shape[0]}, W], got ${t.format} ${shapeString(t.shape)} at channel ${offset}`,
      );
    }
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new ShapeError(`group-norm: eps must be a finite number ≥ 0, got ${eps}`);
  const target = opts.out && (isChannelSlice(opts.out) ? opts.out.tensor : opts.out);
  if (target?.buffer === x.buffer) throw new ShapeError(`group-norm: cannot run in place (output ${target.label} is the input); pass another output`);
}

export function groupNorm(ctx: GpuContext, x: Tensor, gamma: Tensor, beta: Tensor, opts: GroupNormOptions): Tensor {
  validate(x, gamma, beta, opts);
  const { groups, eps, add } = opts;
  const silu = opts.silu ?? false;
  const batch = x.shape[0]!;
  const channels = x.shape[x.shape.length - 1]!;
  const spatial = numel(x.shape) / (batch * channels);
  const groupChannels = channels / groups;
  const wanted = Math.max(1, Math.ceil((spatial * groupChannels) / CHUNK_VALUES));
  const chunkRows = Math.ceil(spatial / wanted);
  const chunks = Math.ceil(spatial / chunkRows);
  const count = numel(x.shape);
  const o = resolveOutput(ctx, x.shape, opts.out, 'group-norm');
  const passes = opts.passes ?? (spatial * groupChannels <= SINGLE_MAX_VALUES ? 'single' : 'split');

  const params = uniforms([
    ['u32', batch],
    ['u32', spatial],
    ['u32', channels],
    ['u32', groups],
    ['u32', groupChannels],
    ['u32', chunkRows],
    ['u32', chunks],
    ['u32', count],
    ['u32', o.channelOffset],
    ['u32', o.channelStride],
    ['f32', eps],
    ['u32', add && isChannelSlice(add) ? add.offset : 0],
    ['u32', add ? (isChannelSlice(add) ? add.tensor : add).shape[1]! : channels],
    ['u32', chunks],
    ['u32', 0],
  ]);
  const addTensor = add && isChannelSlice(add) ? add.tensor : add;
  const addKey = add ? '+add' : '';
  const siluKey = silu ? '+silu' : '';
  if (passes === 'single') {
    ctx.dispatch({
      op: 'group-norm',
      variant: `single-wg${STATS_WG}${addKey}${siluKey}`,
      code: () => (silu ? activations : '') + preprocess(source, { SINGLE: true, ADD: !!add, SILU: silu }),
      constants: { WG: STATS_WG },
      uniforms: params,
      bindings: [x, addTensor, gamma, beta, o.tensor],
      workgroups: ctx.grid(batch * groups),
    });
    return o.tensor;
  }
  const partials = ctx.empty([batch * groups * chunks, 3], 'group-norm.partials');
  const table = ctx.empty([batch, channels, 4], 'group-norm.table');

  ctx.dispatch({
    op: 'group-norm.stats',
    variant: `wg${STATS_WG}${addKey}`,
    code: () => preprocess(source, { STATS: true, ADD: !!add }),
    constants: { WG: STATS_WG },
    uniforms: params,
    bindings: [x, addTensor, partials],
    workgroups: ctx.grid(batch * groups * chunks),
  });
  ctx.dispatch({
    op: 'group-norm.finalize',
    variant: `wg${FINALIZE_WG}${addKey}`,
    code: () => preprocess(source, { FINALIZE: true, ADD: !!add }),
    constants: { WG: FINALIZE_WG },
    uniforms: params,
    bindings: [partials, addTensor, gamma, beta, table],
    workgroups: ctx.grid(batch * groups),
  });
  ctx.dispatch({
    op: 'group-norm.apply',
    variant: `wg${APPLY_WG}${siluKey}`,
    code: () => (silu ? activations : '') + preprocess(source, { APPLY: true, SILU: silu }),
    constants: { WG: APPLY_WG },
    uniforms: params,
    bindings: [x, table, o.tensor],
    workgroups: ctx.grid(Math.ceil(count / (APPLY_WG * APPLY_PER_THREAD))),
  });
  ctx.release(partials, table);
  return o.tensor;
}

export type GroupNormBandsOptions = Pick<GroupNormOptions, 'groups' | 'eps' | 'silu'>;

/**
 * GroupNorm (+ SiLU) of a tensor held as bands along its spatial axis: xs[i] f32 [B, ..., C] with the same batch and
 * channels, together the whole tensor's positions (in any order: the statistics do not depend on it); outs[i] of
 * xs[i]'s shape receives band i normalised with the statistics of all bands. No band's buffer is bound with
 * another's, so each stays within the binding limit.
 */
export function groupNormBands(ctx: GpuContext, xs: readonly Tensor[], outs: readonly Tensor[], gamma: Tensor, beta: Tensor, opts: GroupNormBandsOptions): void {
  const { groups, eps } = opts;
  const silu = opts.silu ?? false;
  if (xs.length === 0 || xs.length !== outs.length) throw new ShapeError(`group-norm bands: ${xs.length} bands in, ${outs.length} out; need one output per band and at least one band`);
  const first = xs[0]!;
  const batch = first.shape[0]!;
  const channels = first.shape[first.shape.length - 1]!;
  xs.forEach((x, i) => {
    validate(x, gamma, beta, { groups, eps, out: outs[i]! });
    if (x.shape[0] !== batch || x.shape[x.shape.length - 1] !== channels) {
      throw new ShapeError(`group-norm bands: band ${i} ${shapeString(x.shape)} differs from band 0 ${shapeString(first.shape)} in batch or channels`);
    }
    if (shapeString(outs[i]!.shape) !== shapeString(x.shape) || outs[i]!.format !== 'f32') {
      throw new ShapeError(`group-norm bands: output ${i} ${shapeString(outs[i]!.shape)} must be f32 of its band's shape ${shapeString(x.shape)}`);
    }
  });
  const groupChannels = channels / groups;
  const bands = xs.map((x) => {
    const spatial = numel(x.shape) / (batch * channels);
    const wanted = Math.max(1, Math.ceil((spatial * groupChannels) / CHUNK_VALUES));
    const chunkRows = Math.ceil(spatial / wanted);
    return { x, spatial, chunkRows, chunks: Math.ceil(spatial / chunkRows) };
  });
  const total = bands.reduce((n, b) => n + b.chunks, 0);
  const params = (spatial: number, chunkRows: number, chunks: number, base: number) =>
    uniforms([
      ['u32', batch],
      ['u32', spatial],
      ['u32', channels],
      ['u32', groups],
      ['u32', groupChannels],
      ['u32', chunkRows],
      ['u32', chunks],
      ['u32', batch * spatial * channels],
      ['u32', 0],
      ['u32', channels],
      ['f32', eps],
      ['u32', 0],
      ['u32', channels],
      ['u32', total],
      ['u32', base],
    ]);
  const partials = ctx.empty([batch * groups * total, 3], 'group-norm.partials');
  const table = ctx.empty([batch, channels, 4], 'group-norm.table');
  let base = 0;
  for (const b of bands) {
    ctx.dispatch({
      op: 'group-norm.stats',
      variant: `wg${STATS_WG}`,
      code: () => preprocess(source, { STATS: true, ADD: false }),
      constants: { WG: STATS_WG },
      uniforms: params(b.spatial, b.chunkRows, b.chunks, base),
      bindings: [b.x, undefined, partials],
      workgroups: ctx.grid(batch * groups * b.chunks),
    });
    base += b.chunks;
  }
  ctx.dispatch({
    op: 'group-norm.finalize',
    variant: `wg${FINALIZE_WG}`,
    code: () => preprocess(source, { FINALIZE: true, ADD: false }),
    constants: { WG: FINALIZE_WG },
    uniforms: params(0, 0, total, 0),
    bindings: [partials, undefined, gamma, beta, table],
    workgroups: ctx.grid(batch * groups),
  });
  bands.forEach((b, i) => {
    const count = batch * b.spatial * channels;
    ctx.dispatch({
      op: 'group-norm.apply',
      variant: `wg${APPLY_WG}${silu ? '+silu' : ''}`,
      code: () => (silu ? activations : '') + preprocess(source, { APPLY: true, SILU: silu }),
      constants: { WG: APPLY_WG },
      uniforms: params(b.spatial, b.chunkRows, b.chunks, 0),
      bindings: [b.x, table, outs[i]!],
      workgroups: ctx.grid(Math.ceil(count / (APPLY_WG * APPLY_PER_THREAD))),
    });
  });
  ctx.release(partials, table);
}
