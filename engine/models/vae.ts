/**
 * diffusers `AutoencoderKL`: the decoder turns latents into an image, the encoder an image into the mean and
 * log-variance of its latent distribution. NHWC throughout: latents [B, h, w, 4], images [B, H, W, 3] in [-1, 1].
 *
 *   decode(z) = conv_out(silu(norm_out(up_blocks(mid(conv_in(post_quant_conv(z)))))))
 *   encode(x) = quant_conv(conv_out(silu(norm_out(mid(down_blocks(conv_in(x))))))) = [mean | logvar]
 *
 * Where a decoder tensor would pass the binding limit (SD 1.5 at 512×512: the last up blocks' 512·512·256 floats,
 * 268 MB, against WebGPU's default 128 MiB), the up blocks from there on run on row bands (engine/models/bands.ts):
 * the same arithmetic as the whole image (GroupNorm statistics over all bands, convolutions reading their neighbours'
 * rows), so the image equals the whole-image decode up to f32 rounding (Winograd tiles and statistics chunks fall
 * elsewhere), unlike diffusers' tiled decode, which normalises and blends tiles. The mid block's attention runs at
 * latent resolution, whole. The encoder likewise runs its first down blocks on bands where they would not fit (SD
 * 1.5 above 512×512), band heights a multiple of 2^blocks so each downsampling halves every band.
 *
 * Scaling by `scaling_factor` is the pipeline's business, as in diffusers. The encoder's downsampling pads only
 * the bottom and right edges (diffusers pads (0, 1, 0, 1) and convolves without padding), which the convolution
 * op takes as `padding: 'bottom-right'`.
 */
import { largestRequest, pooledBytes } from '../gpu/buffer-pool';
import type { GpuContext } from '../gpu/context';
import { BufferTooLargeError, ShapeError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { conv2d } from '../ops/conv2d';
import { linear } from '../ops/gemm';
import { groupNorm } from '../ops/group-norm';
import { WINOGRAD_WORKSPACE_BYTES } from '../ops/winograd-common';
import { bandHeights, fillHalo, HALO, joinRows, mapWithHalo, normBands, releaseBands, rowsOf, splitRows, withHalo, type Band } from './bands';
import { ResnetBlock, VaeAttention, type ConvRunOptions } from './blocks';
import type { VaeConfig } from './config';
import { ParamLoader, type Conv3x3, type Linear, type LoadOptions, type Norm, type ParamSource } from './params';

const EPS = 1e-6;

interface Mid {
  resnet0: ResnetBlock;
  attention: VaeAttention;
  resnet1: ResnetBlock;
}

async function loadMid(p: ParamLoader, c: number, groups: number): Promise<Mid> {
  return {
    resnet0: await ResnetBlock.load(p.scoped('resnets.0'), c, c, undefined, groups, EPS),
    attention: await VaeAttention.load(p.scoped('attentions.0'), c, groups),
    resnet1: await ResnetBlock.load(p.scoped('resnets.1'), c, c, undefined, groups, EPS),
  };
}

function runMid(ctx: GpuContext, mid: Mid, x: Tensor, conv: ConvRunOptions = {}): Tensor {
  const a = mid.resnet0.forward(ctx, x, undefined, {}, conv);
  const b = mid.attention.forward(ctx, a);
  ctx.release(a);
  const c = mid.resnet1.forward(ctx, b, undefined, {}, conv);
  ctx.release(b);
  return c;
}

/** Runs `f` on `x` and releases `x`: keeps the chains below readable. */
function step(ctx: GpuContext, x: Tensor, f: (x: Tensor) => Tensor): Tensor {
  const y = f(x);
  ctx.release(x);
  return y;
}

export interface CodecOptions {
  /**
   * The largest buffer the decode or encode may create, in bytes; default (and at most) the device's binding limit.
   * Blocks whose tensors would be larger run on row bands; tests pass less to make small models band.
   */
  maxBufferBytes?: number;
}

/** Whether a [rows, width, c] f32 tensor's pooled buffer stays within `budget` bytes. */
function fitsWithin(ctx: GpuContext, budget: number): (rows: number, width: number, c: number) => boolean {
  return (rows, width, c) => pooledBytes(rows * width * c * 4, ctx.maxBindingBytes) <= budget;
}

/** Where a decode goes banded: from up block `start` on, with bands of `heights` rows at that block's input. */
interface BandPlan {
  start: number;
  heights: number[];
}

type UpBlock = { resnets: ResnetBlock[]; upsample?: Conv3x3 };
type DownBlock = { resnets: ResnetBlock[]; downsample?: Conv3x3 };

/** Runs `resnets` in turn on row bands, releasing each input's bands. */
function resnetsOnBands(ctx: GpuContext, resnets: readonly ResnetBlock[], x: Band[], conv: ConvRunOptions): Band[] {
  for (const resnet of resnets) {
    const next = resnet.forwardBands(ctx, x, conv);
    releaseBands(ctx, x);
    x = next;
  }
  return x;
}

export class VaeDecoder {
  private constructor(
    readonly config: VaeConfig,
    private readonly loader: ParamLoader,
    private readonly postQuant: Linear | undefined,
    private readonly convIn: Conv3x3,
    private readonly mid: Mid,
    private readonly up: UpBlock[],
    private readonly normOut: Norm,
    private readonly convOut: Conv3x3,
  ) {}

  static async load(ctx: GpuContext, config: VaeConfig, source: ParamSource, options: LoadOptions): Promise<VaeDecoder> {
    const root = new ParamLoader(ctx, source, options);
    const ch = config.blockOutChannels;
    const groups = config.normNumGroups;
    const latent = config.latentChannels;
    const postQuant = config.usePostQuantConv ? await root.linear('post_quant_conv', latent, latent) : undefined;
    const d = root.scoped('decoder');
    let c = ch[ch.length - 1]!;
    const convIn = await d.conv3x3('conv_in', c, latent);
    const mid = await loadMid(d.scoped('mid_block'), c, groups);
    const up = [];
    for (let i = 0; i < ch.length; i++) {
      const p = d.scoped(`up_blocks.${i}`);
      const out = ch[ch.length - 1 - i]!;
      const resnets = [];
      for (let j = 0; j <= config.layersPerBlock; j++) {
        resnets.push(await ResnetBlock.load(p.scoped(`resnets.${j}`), c, out, undefined, groups, EPS));
        c = out;
      }
      up.push({ resnets, ...(i < ch.length - 1 ? { upsample: await p.conv3x3('upsamplers.0.conv', c, c) } : {}) });
    }
    const normOut = await d.norm('conv_norm_out', c);
    const convOut = await d.conv3x3('conv_out', config.outChannels, c);
    return new VaeDecoder(config, root, postQuant, convIn, mid, up, normOut, convOut);
  }

  /** Checkpoint tensors under `decoder.` / `post_quant_conv.` this model did not use. */
  unused(): string[] {
    return this.loader.unused().filter((n) => n.startsWith('decoder.') || n.startsWith('post_quant_conv.'));
  }

  /** z: unscaled latents NHWC [B, h, w, latent] → image NHWC [B, 8h, 8w, 3] (about [-1, 1]). */
  decode(ctx: GpuContext, z: Tensor, opts: CodecOptions = {}): Tensor {
    if (z.shape.length !== 4 || z.shape[3] !== this.config.latentChannels) {
      throw new ShapeError(`VAE decoder: latents ${z.shape.join('×')} must be [B, h, w, ${this.config.latentChannels}]`);
    }
    const budget = Math.min(opts.maxBufferBytes ?? ctx.maxBindingBytes, ctx.maxBindingBytes);
    const conv = { workspaceBytes: largestRequest(Math.min(budget, WINOGRAD_WORKSPACE_BYTES)) };
    const [batch, h, w, latent] = z.shape as [number, number, number, number];
    const plan = this.bandPlan(ctx, h, w, budget);
    if (!plan) {
      let x = this.front(ctx, z, conv);
      for (const block of this.up) x = this.upWhole(ctx, block, x, conv);
      x = step(ctx, x, (t) => groupNorm(ctx, t, this.normOut.gamma, this.normOut.beta, { groups: this.config.normNumGroups, eps: EPS, silu: true }));
      return step(ctx, x, (t) => conv2d(ctx, t, this.convOut.w, { ...conv, bias: this.convOut.b }));
    }
    // Banded: one image at a time, each a [1, H, W, C] whose bands are byte ranges of its rows.
    const factor = 2 ** (this.up.length - 1);
    const [height, width, channels] = [h * factor, w * factor, this.config.outChannels];
    const image = ctx.empty([batch, height, width, channels], 'vae image');
    const latentBytes = h * w * latent * 4;
    for (let b = 0; b < batch; b++) {
      const zb = ctx.empty([1, h, w, latent], 'latents');
      ctx.copy(z, b * latentBytes, zb, 0, latentBytes);
      let x = step(ctx, zb, (t) => this.front(ctx, t, conv));
      for (const block of this.up.slice(0, plan.start)) x = this.upWhole(ctx, block, x, conv);
      let bands = splitRows(ctx, x, plan.heights);
      ctx.release(x);
      for (const block of this.up.slice(plan.start)) bands = this.upBands(ctx, block, bands, conv);
      const normed = normBands(ctx, bands, this.normOut, this.config.normNumGroups, EPS, true);
      releaseBands(ctx, bands);
      fillHalo(ctx, normed);
      const out = mapWithHalo(normed, (t) => conv2d(ctx, t, this.convOut.w, { ...conv, bias: this.convOut.b }));
      releaseBands(ctx, normed);
      joinRows(ctx, out, image, b * height * width * channels * 4);
      releaseBands(ctx, out);
    }
    return image;
  }

  /** post_quant_conv, conv_in and the mid block, on the whole latent. */
  private front(ctx: GpuContext, z: Tensor, conv: ConvRunOptions): Tensor {
    const pq = this.postQuant;
    const convIn = (t: Tensor) => conv2d(ctx, t, this.convIn.w, { ...conv, bias: this.convIn.b });
    const x = pq ? step(ctx, linear(ctx, z, pq.w, { bias: pq.b }), convIn) : convIn(z);
    return step(ctx, x, (t) => runMid(ctx, this.mid, t, conv));
  }

  /** One up block on the whole image; releases x. */
  private upWhole(ctx: GpuContext, block: UpBlock, x: Tensor, conv: ConvRunOptions): Tensor {
    for (const resnet of block.resnets) x = step(ctx, x, (t) => resnet.forward(ctx, t, undefined, {}, conv));
    const up = block.upsample;
    return up ? step(ctx, x, (t) => conv2d(ctx, t, up.w, { ...conv, bias: up.b, upsample: true })) : x;
  }

  /** One up block on row bands; releases x. An upsampling doubles every band's rows (pad 2·HALO: see bands.ts). */
  private upBands(ctx: GpuContext, block: UpBlock, x: Band[], conv: ConvRunOptions): Band[] {
    x = resnetsOnBands(ctx, block.resnets, x, conv);
    const up = block.upsample;
    if (!up) return x;
    fillHalo(ctx, x);
    const out = x.map((band) => ({ tensor: conv2d(ctx, withHalo(band), up.w, { ...conv, bias: up.b, upsample: true }), rows: 2 * band.rows, pad: 2 * HALO }));
    releaseBands(ctx, x);
    return out;
  }

  /**
   * Whether the decode of an h×w latent needs bands under `budget` bytes per buffer, and which: none when every up
   * block's tensors fit whole; else from the first block that has one too large, with the fewest bands that keep
   * every later tensor (with its spare rows) within the budget; bands start at even rows (bands.ts says why).
   */
  private bandPlan(ctx: GpuContext, h: number, w: number, budget: number): BandPlan | undefined {
    const ch = this.config.blockOutChannels;
    const last = ch.length - 1;
    const fits = fitsWithin(ctx, budget);
    const blocks = this.up.map((block, i) => ({ cin: ch[last - Math.max(0, i - 1)]!, cout: ch[last - i]!, scale: 2 ** i, upsample: block.upsample !== undefined }));
    // Rows of the block's input and upsampled output (when it has one) for n input rows, and whether they fit.
    const blockFits = (b: (typeof blocks)[number], rows: (n: number) => number, n: number) =>
      fits(rows(n), w * b.scale, b.cin) && fits(rows(n), w * b.scale, b.cout) && (!b.upsample || fits(rows(2 * n), 2 * w * b.scale, b.cout));
    const start = blocks.findIndex((b) => !blockFits(b, (n) => n, h * b.scale));
    if (start < 0) return undefined;
    const align = ctx.device.limits.minStorageBufferOffsetAlignment;
    for (const b of blocks.slice(start)) {
      for (const [width, c] of [[w * b.scale, b.cin], [w * b.scale, b.cout], [2 * w * b.scale, b.cout]] as const) {
        if ((width * c * 4) % align) {
          throw new ShapeError(`VAE decoder: an image ${8 * w} pixels wide is too large for one GPU buffer and cannot be split into row bands (${width}·${c} floats per row is not a multiple of ${align / 4}); choose a width that is a multiple of 64`);
        }
      }
    }
    const height = h * blocks[start]!.scale;
    for (let count = 1; count <= Math.max(1, Math.floor(height / 2)); count++) {
      const n = Math.max(...bandHeights(height, count, 2));
      // Up to 2·HALO spare rows above and below each band.
      if (blocks.slice(start).every((b) => blockFits(b, (m) => m + 4 * HALO, (n * b.scale) / blocks[start]!.scale))) return { start, heights: bandHeights(height, count, 2) };
    }
    const b = blocks[blocks.length - 1]!;
    throw new BufferTooLargeError(`VAE decoder: one row band of ${8 * w}-pixel-wide image`, 5 * w * b.scale * b.cout * 4, budget);
  }

  destroy(): void {
    this.loader.destroy();
  }
}

export class VaeEncoder {
  private constructor(
    readonly config: VaeConfig,
    private readonly loader: ParamLoader,
    private readonly convIn: Conv3x3,
    private readonly down: DownBlock[],
    private readonly mid: Mid,
    private readonly normOut: Norm,
    private readonly convOut: Conv3x3,
    private readonly quant: Linear | undefined,
  ) {}

  static async load(ctx: GpuContext, config: VaeConfig, source: ParamSource, options: LoadOptions): Promise<VaeEncoder> {
    const root = new ParamLoader(ctx, source, options);
    const ch = config.blockOutChannels;
    const groups = config.normNumGroups;
    const e = root.scoped('encoder');
    let c = ch[0]!;
    const convIn = await e.conv3x3('conv_in', c, config.inChannels);
    const down = [];
    for (let i = 0; i < ch.length; i++) {
      const p = e.scoped(`down_blocks.${i}`);
      const resnets = [];
      for (let j = 0; j < config.layersPerBlock; j++) {
        resnets.push(await ResnetBlock.load(p.scoped(`resnets.${j}`), c, ch[i]!, undefined, groups, EPS));
        c = ch[i]!;
      }
      down.push({ resnets, ...(i < ch.length - 1 ? { downsample: await p.conv3x3('downsamplers.0.conv', c, c, 2) } : {}) });
    }
    const mid = await loadMid(e.scoped('mid_block'), c, groups);
    const normOut = await e.norm('conv_norm_out', c);
    const moments = 2 * config.latentChannels;
    const convOut = await e.conv3x3('conv_out', moments, c);
    const quant = config.useQuantConv ? await root.linear('quant_conv', moments, moments) : undefined;
    return new VaeEncoder(config, root, convIn, down, mid, normOut, convOut, quant);
  }

  /** Checkpoint tensors under `encoder.` / `quant_conv.` this model did not use. */
  unused(): string[] {
    return this.loader.unused().filter((n) => n.startsWith('encoder.') || n.startsWith('quant_conv.'));
  }

  /** image NHWC [B, H, W, 3] in [-1, 1] (H, W multiples of 8) → moments [B, H/8, W/8, 2·latent]: mean, then logvar. */
  encode(ctx: GpuContext, image: Tensor, opts: CodecOptions = {}): Tensor {
    const factor = 2 ** (this.config.blockOutChannels.length - 1);
    const [batch, h, w, c] = image.shape as [number, number, number, number];
    if (image.shape.length !== 4 || c !== this.config.inChannels || h % factor || w % factor) {
      throw new ShapeError(`VAE encoder: image ${image.shape.join('×')} must be [B, H, W, ${this.config.inChannels}] with H and W multiples of ${factor}`);
    }
    const budget = Math.min(opts.maxBufferBytes ?? ctx.maxBindingBytes, ctx.maxBindingBytes);
    const conv = { workspaceBytes: largestRequest(Math.min(budget, WINOGRAD_WORKSPACE_BYTES)) };
    const plan = this.bandPlan(ctx, h, w, budget);
    if (!plan) return this.back(ctx, conv2d(ctx, image, this.convIn.w, { ...conv, bias: this.convIn.b }), 0, conv);
    // Banded: one image at a time; the first `plan.end` down blocks on row bands, the rest whole.
    const moments = 2 * this.config.latentChannels;
    const out = ctx.empty([batch, h / factor, w / factor, moments], 'vae moments');
    const imageBytes = h * w * c * 4;
    for (let b = 0; b < batch; b++) {
      const one = { ...image, shape: [1, h, w, c], byteOffset: image.byteOffset + b * imageBytes, byteLength: imageBytes };
      const pixels = splitRows(ctx, one, plan.heights);
      fillHalo(ctx, pixels);
      let x = mapWithHalo(pixels, (t) => conv2d(ctx, t, this.convIn.w, { ...conv, bias: this.convIn.b }));
      releaseBands(ctx, pixels);
      for (const block of this.down.slice(0, plan.end)) x = this.downBands(ctx, block, x, conv);
      const [, , width, channels] = x[0]!.tensor.shape as [number, number, number, number];
      const whole = ctx.empty([1, x.reduce((n, band) => n + band.rows, 0), width, channels], 'vae encoder');
      joinRows(ctx, x, whole, 0);
      releaseBands(ctx, x);
      const mb = this.back(ctx, whole, plan.end, conv);
      ctx.copy(mb, 0, out, b * mb.byteLength, mb.byteLength);
      ctx.release(mb);
    }
    return out;
  }

  /** Down blocks from `first` on, the mid block and the output layers, on the whole tensor; releases x. */
  private back(ctx: GpuContext, x: Tensor, first: number, conv: ConvRunOptions): Tensor {
    for (const block of this.down.slice(first)) {
      for (const resnet of block.resnets) x = step(ctx, x, (t) => resnet.forward(ctx, t, undefined, {}, conv));
      const down = block.downsample;
      if (down) x = step(ctx, x, (t) => conv2d(ctx, t, down.w, { bias: down.b, stride: 2, padding: 'bottom-right' }));
    }
    x = step(ctx, x, (t) => runMid(ctx, this.mid, t, conv));
    x = step(ctx, x, (t) => groupNorm(ctx, t, this.normOut.gamma, this.normOut.beta, { groups: this.config.normNumGroups, eps: EPS, silu: true }));
    x = step(ctx, x, (t) => conv2d(ctx, t, this.convOut.w, { ...conv, bias: this.convOut.b }));
    const quant = this.quant;
    return quant ? step(ctx, x, (t) => linear(ctx, t, quant.w, { bias: quant.b })) : x;
  }

  /**
   * One down block on row bands; releases x. The downsampling (stride 2, zeros below and right) of a band of n rows
   * (n even) reads its rows and the first row of the band below: n/2 rows, written inside a new band's buffer.
   */
  private downBands(ctx: GpuContext, block: DownBlock, x: Band[], conv: ConvRunOptions): Band[] {
    x = resnetsOnBands(ctx, block.resnets, x, conv);
    const down = block.downsample;
    if (!down) return x;
    fillHalo(ctx, x);
    const out = x.map((band) => {
      const width = band.tensor.shape[2]!;
      const rows = band.rows / 2;
      const tensor = ctx.empty([1, rows + 2 * HALO, width / 2, down.w.shape[0]!], 'downsample band');
      conv2d(ctx, rowsOf(band.tensor, band.pad, band.rows + 1), down.w, { bias: down.b, stride: 2, padding: 'bottom-right', out: rowsOf(tensor, HALO, rows) });
      return { tensor, rows, pad: HALO };
    });
    releaseBands(ctx, x);
    return out;
  }

  /**
   * Whether the encode of an h×w image needs bands under `budget` bytes per buffer: none when every down block's
   * tensors fit whole; else the down blocks before the first whose tensors all fit (and every one after) run on
   * bands, as few as keep each band's buffer within the budget, their heights multiples of 2^blocks so that every
   * downsampling halves each band.
   */
  private bandPlan(ctx: GpuContext, h: number, w: number, budget: number): { end: number; heights: number[] } | undefined {
    const ch = this.config.blockOutChannels;
    const fits = fitsWithin(ctx, budget);
    const blocks = this.down.map((block, i) => ({ cin: ch[Math.max(0, i - 1)]!, cout: ch[i]!, scale: 2 ** i, downsample: block.downsample !== undefined }));
    const blockFits = (b: (typeof blocks)[number], rows: (n: number) => number, n: number) =>
      fits(rows(n), w / b.scale, b.cin) && fits(rows(n), w / b.scale, b.cout) && (!b.downsample || fits(rows(n / 2), w / (2 * b.scale), b.cout));
    let end = blocks.length;
    while (end > 0 && blocks.slice(end - 1).every((b) => blockFits(b, (n) => n, h / b.scale))) end--;
    if (end === 0) return undefined;
    const align = ctx.device.limits.minStorageBufferOffsetAlignment;
    const widths = blocks.slice(0, end).flatMap((b) => [[w / b.scale, b.cin], [w / b.scale, b.cout], [w / (2 * b.scale), b.cout]]);
    for (const [width, c] of [[w, this.config.inChannels], ...widths] as const) {
      if ((width! * c! * 4) % align) {
        throw new ShapeError(`VAE encoder: an image ${w} pixels wide is too large for one GPU buffer and cannot be split into row bands (${width}·${c} floats per row is not a multiple of ${align / 4}); choose a width that is a multiple of 64`);
      }
    }
    // Every band starts at an even row in the last banded block too (bands.ts says why).
    const unit = 2 ** end;
    for (let count = 1; count <= Math.max(1, Math.floor(h / unit)); count++) {
      const n = Math.max(...bandHeights(h, count, unit));
      if (blocks.slice(0, end).every((b) => blockFits(b, (m) => m + 2 * HALO, n / b.scale))) return { end, heights: bandHeights(h, count, unit) };
    }
    throw new BufferTooLargeError(`VAE encoder: one row band of a ${w}-pixel-wide image`, (unit + 2 * HALO) * w * ch[0]! * 4, budget);
  }

  destroy(): void {
    this.loader.destroy();
  }
}
