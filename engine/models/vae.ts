/**
 * diffusers `AutoencoderKL`: the decoder turns latents into an image, the encoder an image into the mean and
 * log-variance of its latent distribution. NHWC throughout: latents [B, h, w, 4], images [B, H, W, 3] in [-1, 1].
 *
 *   decode(z) = conv_out(silu(norm_out(up_blocks(mid(conv_in(post_quant_conv(z)))))))
 *   encode(x) = quant_conv(conv_out(silu(norm_out(mid(down_blocks(conv_in(x))))))) = [mean | logvar]
 *
 * Scaling by `scaling_factor` is the pipeline's business, as in diffusers. The encoder's downsampling pads only
 * the bottom and right edges (diffusers pads (0, 1, 0, 1) and convolves without padding), which the convolution
 * op takes as `padding: 'bottom-right'`.
 */
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { conv2d } from '../ops/conv2d';
import { linear } from '../ops/gemm';
import { groupNorm } from '../ops/group-norm';
import { ResnetBlock, VaeAttention } from './blocks';
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

function runMid(ctx: GpuContext, mid: Mid, x: Tensor): Tensor {
  const a = mid.resnet0.forward(ctx, x, undefined);
  const b = mid.attention.forward(ctx, a);
  ctx.release(a);
  const c = mid.resnet1.forward(ctx, b, undefined);
  ctx.release(b);
  return c;
}

/** Runs `f` on `x` and releases `x`: keeps the chains below readable. */
function step(ctx: GpuContext, x: Tensor, f: (x: Tensor) => Tensor): Tensor {
  const y = f(x);
  ctx.release(x);
  return y;
}

export class VaeDecoder {
  private constructor(
    readonly config: VaeConfig,
    private readonly loader: ParamLoader,
    private readonly postQuant: Linear | undefined,
    private readonly convIn: Conv3x3,
    private readonly mid: Mid,
    private readonly up: { resnets: ResnetBlock[]; upsample?: Conv3x3 }[],
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
  decode(ctx: GpuContext, z: Tensor): Tensor {
    if (z.shape.length !== 4 || z.shape[3] !== this.config.latentChannels) {
      throw new ShapeError(`VAE decoder: latents ${z.shape.join('×')} must be [B, h, w, ${this.config.latentChannels}]`);
    }
    const pq = this.postQuant;
    const convIn = (t: Tensor) => conv2d(ctx, t, this.convIn.w, { bias: this.convIn.b });
    let x = pq ? step(ctx, linear(ctx, z, pq.w, { bias: pq.b }), convIn) : convIn(z);
    x = step(ctx, x, (t) => runMid(ctx, this.mid, t));
    for (const block of this.up) {
      for (const resnet of block.resnets) x = step(ctx, x, (t) => resnet.forward(ctx, t, undefined));
      const conv = block.upsample;
      if (conv) x = step(ctx, x, (t) => conv2d(ctx, t, conv.w, { bias: conv.b, upsample: true }));
    }
    x = step(ctx, x, (t) => groupNorm(ctx, t, this.normOut.gamma, this.normOut.beta, { groups: this.config.normNumGroups, eps: EPS, silu: true }));
    return step(ctx, x, (t) => conv2d(ctx, t, this.convOut.w, { bias: this.convOut.b }));
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
    private readonly down: { resnets: ResnetBlock[]; downsample?: Conv3x3 }[],
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
  encode(ctx: GpuContext, image: Tensor): Tensor {
    const factor = 2 ** (this.config.blockOutChannels.length - 1);
    const [, h, w, c] = image.shape as [number, number, number, number];
    if (image.shape.length !== 4 || c !== this.config.inChannels || h % factor || w % factor) {
      throw new ShapeError(`VAE encoder: image ${image.shape.join('×')} must be [B, H, W, ${this.config.inChannels}] with H and W multiples of ${factor}`);
    }
    let x = conv2d(ctx, image, this.convIn.w, { bias: this.convIn.b });
    for (const block of this.down) {
      for (const resnet of block.resnets) x = step(ctx, x, (t) => resnet.forward(ctx, t, undefined));
      const conv = block.downsample;
      if (conv) x = step(ctx, x, (t) => conv2d(ctx, t, conv.w, { bias: conv.b, stride: 2, padding: 'bottom-right' }));
    }
    x = step(ctx, x, (t) => runMid(ctx, this.mid, t));
    x = step(ctx, x, (t) => groupNorm(ctx, t, this.normOut.gamma, this.normOut.beta, { groups: this.config.normNumGroups, eps: EPS, silu: true }));
    x = step(ctx, x, (t) => conv2d(ctx, t, this.convOut.w, { bias: this.convOut.b }));
    const quant = this.quant;
    return quant ? step(ctx, x, (t) => linear(ctx, t, quant.w, { bias: quant.b })) : x;
  }

  destroy(): void {
    this.loader.destroy();
  }
}
