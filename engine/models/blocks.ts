/**
 * Building blocks shared by the UNet and the VAE, named after diffusers' modules so that their fields are the
 * checkpoint's keys: `ResnetBlock2D`, the transformer of `Transformer2DModel` (`BasicTransformerBlock`), and the
 * VAE's single-head spatial attention.
 *
 * Every block takes a `Dest` for its result: `out` to write into a given tensor or channel slice (the first half of
 * an up block's joined input), `skip` to also write it into the second half of a joined buffer held for the up
 * path (the UNet's skip connections then need no concat copy).
 */
import type { GpuContext } from '../gpu/context';
import { view, type ChannelSlice, type Output, type Tensor } from '../gpu/tensor';
import { attention } from '../ops/attention';
import { conv2d, type Conv2dOptions } from '../ops/conv2d';
import { linear } from '../ops/gemm';
import { groupNorm } from '../ops/group-norm';
import { layerNorm } from '../ops/layer-norm';
import { fillHalo, mapWithHalo, normBands, releaseBands, withHalo, type Band } from './bands';
import type { Conv3x3, Linear, Norm, ParamLoader } from './params';

/** Options a model passes to every convolution it runs. */
export type ConvRunOptions = Pick<Conv2dOptions, 'workspaceBytes'>;

export interface Dest {
  out?: Output;
  skip?: ChannelSlice;
}

/** `out` and `skip` as op options, leaving absent ones out. */
function destOptions(dest: Dest): Dest {
  return { ...(dest.out ? { out: dest.out } : {}), ...(dest.skip ? { skip: dest.skip } : {}) };
}

/**
 * diffusers `ResnetBlock2D` (time_embedding_norm "default", output_scale_factor 1):
 *   h = conv1(silu(norm1(x))); h = conv2(silu(norm2(h + time_emb_proj(silu(temb))))); out = shortcut(x) + h
 * The time-embedding add rides in norm2, the residual add in conv2's epilogue, the 1×1 shortcut is a GEMM. The UNet
 * computes every block's time_emb_proj in one GEMM (`UNet.load`); a block reads its channels of that result.
 */
export class ResnetBlock {
  private constructor(
    private readonly norm1: Norm,
    private readonly conv1: Conv3x3,
    /** Where this block's time_emb_proj output starts in the UNet's joined projection (UNet blocks only). */
    private readonly timeOffset: number | undefined,
    private readonly norm2: Norm,
    private readonly conv2: Conv3x3,
    private readonly shortcut: Linear | undefined,
    private readonly groups: number,
    private readonly eps: number,
  ) {}

  static async load(p: ParamLoader, cin: number, cout: number, timeOffset: number | undefined, groups: number, eps: number): Promise<ResnetBlock> {
    return new ResnetBlock(
      await p.norm('norm1', cin),
      await p.conv3x3('conv1', cout, cin),
      timeOffset,
      await p.norm('norm2', cout),
      await p.conv3x3('conv2', cout, cout),
      cin === cout ? undefined : await p.linear('conv_shortcut', cout, cin),
      groups,
      eps,
    );
  }

  /**
   * x [B,H,W,Cin]; time: the UNet's joined time_emb_proj(silu(temb)) [B, ΣCout] (UNet only); conv: options for both
   * convolutions (the VAE bounds Winograd's workspace by its buffer budget).
   */
  forward(ctx: GpuContext, x: Tensor, time: Tensor | undefined, dest: Dest = {}, conv: ConvRunOptions = {}): Tensor {
    const { groups, eps } = this;
    const n1 = groupNorm(ctx, x, this.norm1.gamma, this.norm1.beta, { groups, eps, silu: true });
    const h = conv2d(ctx, n1, this.conv1.w, { ...conv, bias: this.conv1.b });
    ctx.release(n1);
    const add = time && this.timeOffset !== undefined ? { add: { tensor: time, offset: this.timeOffset } } : {};
    const n2 = groupNorm(ctx, h, this.norm2.gamma, this.norm2.beta, { groups, eps, silu: true, ...add });
    ctx.release(h);
    const shortcut = this.shortcut ? linear(ctx, x, this.shortcut.w, { bias: this.shortcut.b }) : x;
    const out = conv2d(ctx, n2, this.conv2.w, { ...conv, bias: this.conv2.b, residual: shortcut, ...destOptions(dest) });
    ctx.release(n2);
    if (shortcut !== x) ctx.release(shortcut);
    return out;
  }

  /**
   * The same block on an image held as row bands (engine/models/bands.ts; no time embedding: the VAE's blocks):
   * whole-image GroupNorm statistics, convolutions on each band with its neighbours' halo rows. Returns new bands
   * (pad 1) of the same heights; x is left to the caller.
   */
  forwardBands(ctx: GpuContext, x: readonly Band[], conv: ConvRunOptions = {}): Band[] {
    const { groups, eps } = this;
    const n1 = normBands(ctx, x, this.norm1, groups, eps, true);
    fillHalo(ctx, n1);
    const h = mapWithHalo(n1, (t) => conv2d(ctx, t, this.conv1.w, { ...conv, bias: this.conv1.b }));
    releaseBands(ctx, n1);
    const n2 = normBands(ctx, h, this.norm2, groups, eps, true);
    releaseBands(ctx, h);
    fillHalo(ctx, n2);
    const sc = this.shortcut;
    // The shortcut's halo rows line up with conv2's output rows; they are discarded with them.
    const shortcut = sc ? mapWithHalo(x, (t) => linear(ctx, t, sc.w, { bias: sc.b })) : x;
    const out = mapWithHalo(n2, (t, i) => conv2d(ctx, t, this.conv2.w, { ...conv, bias: this.conv2.b, residual: withHalo(shortcut[i]!) }));
    releaseBands(ctx, n2);
    if (shortcut !== x) releaseBands(ctx, shortcut);
    return out;
  }
}

interface TransformerLayer {
  norm1: Norm;
  qkv: Linear;
  out1: Linear;
  norm2: Norm;
  q2: Linear;
  kv2: Linear;
  out2: Linear;
  norm3: Norm;
  ff1: Linear;
  ff2: Linear;
}

/**
 * diffusers `Transformer2DModel` with `BasicTransformerBlock`s (SD 1.x: 1×1 conv projections; SD 2.x: linear ones,
 * the same matrix in NHWC):
 *   h = proj_in(norm(x)); per block: h += attn1(norm1 h); h += attn2(norm2 h, text); h += ff(norm3 h);
 * (norm1/2/3 fused into the GEMMs that read them when C is a multiple of 4)
 *   out = proj_out(h) + x,  ff = net.2(GEGLU(net.0.proj(·)))   (GEGLU fused into net.2's GEMM)
 * Self-attention q/k/v come from one GEMM; cross-attention keys/values of the text are computed once per
 * generation by `crossKV` and reused at every step.
 */
export class SpatialTransformer {
  private constructor(
    private readonly norm: Norm,
    private readonly projIn: Linear,
    private readonly layers: TransformerLayer[],
    private readonly projOut: Linear,
    private readonly heads: number,
    private readonly groups: number,
  ) {}

  static async load(p: ParamLoader, channels: number, heads: number, crossDim: number, depth: number, groups: number): Promise<SpatialTransformer> {
    const c = channels;
    const layers: TransformerLayer[] = [];
    for (let i = 0; i < depth; i++) {
      const b = p.scoped(`transformer_blocks.${i}`);
      layers.push({
        norm1: await b.norm('norm1', c),
        qkv: await b.joinedLinear(['attn1.to_q', 'attn1.to_k', 'attn1.to_v'], [c, c, c], c, false),
        out1: await b.linear('attn1.to_out.0', c, c),
        norm2: await b.norm('norm2', c),
        q2: await b.linear('attn2.to_q', c, c, false),
        kv2: await b.joinedLinear(['attn2.to_k', 'attn2.to_v'], [c, c], crossDim, false),
        out2: await b.linear('attn2.to_out.0', c, c),
        norm3: await b.norm('norm3', c),
        ff1: await b.linear('ff.net.0.proj', 8 * c, c),
        ff2: await b.linear('ff.net.2', c, 4 * c),
      });
    }
    return new SpatialTransformer(
      await p.norm('norm', c),
      await p.linear('proj_in', c, c),
      layers,
      await p.linear('proj_out', c, c),
      heads,
      groups,
    );
  }

  /** Transformer layers in this block. */
  get depth(): number {
    return this.layers.length;
  }

  /** Keys and values of the text for each layer's cross-attention: [B, T_text, 2C] (k then v). */
  crossKV(ctx: GpuContext, text: Tensor): Tensor[] {
    return this.layers.map((l) => linear(ctx, text, l.kv2.w));
  }

  /** x [B,H,W,C]; kv from `crossKV`. */
  forward(ctx: GpuContext, x: Tensor, kv: readonly Tensor[], dest: Dest = {}): Tensor {
    const [b, hgt, wid, c] = x.shape as [number, number, number, number];
    const tokens = [b, hgt * wid, c];
    const heads = this.heads;
    const n = groupNorm(ctx, x, this.norm.gamma, this.norm.beta, { groups: this.groups, eps: 1e-6 });
    let h = view(linear(ctx, n, this.projIn.w, { bias: this.projIn.b }), tokens);
    ctx.release(n);
    // norm1/2/3 ride in the GEMMs that read their output (engine/ops/gemm.ts `layerNorm`) where C allows.
    const normed = (x: Tensor, norm: Norm, w: Tensor, bias?: Tensor) => {
      if (c % 4 === 0) return linear(ctx, x, w, { bias, layerNorm: { gamma: norm.gamma, beta: norm.beta, eps: 1e-5 } });
      const a = layerNorm(ctx, x, norm.gamma, norm.beta, { eps: 1e-5 });
      const y = linear(ctx, a, w, { bias });
      ctx.release(a);
      return y;
    };
    this.layers.forEach((l, i) => {
      const qkv = normed(h, l.norm1, l.qkv.w);
      const s = attention(ctx, { q: { tensor: qkv, offset: 0 }, k: { tensor: qkv, offset: c }, v: { tensor: qkv, offset: 2 * c }, heads });
      ctx.release(qkv);
      const h1 = linear(ctx, s, l.out1.w, { bias: l.out1.b, residual: h });
      ctx.release(s, h);
      const q = normed(h1, l.norm2, l.q2.w);
      const text = kv[i]!;
      const s2 = attention(ctx, { q: { tensor: q, offset: 0 }, k: { tensor: text, offset: 0 }, v: { tensor: text, offset: c }, heads });
      ctx.release(q);
      const h2 = linear(ctx, s2, l.out2.w, { bias: l.out2.b, residual: h1 });
      ctx.release(s2, h1);
      const f = normed(h2, l.norm3, l.ff1.w, l.ff1.b);
      // GEGLU rides in ff2's loads of f: no [B, T, 4C] intermediate.
      h = linear(ctx, f, l.ff2.w, { bias: l.ff2.b, residual: h2, geglu: true });
      ctx.release(f, h2);
    });
    const out = linear(ctx, view(h, x.shape), this.projOut.w, { bias: this.projOut.b, residual: x, ...destOptions(dest) });
    ctx.release(h);
    return out;
  }
}

/**
 * The VAE's mid-block attention (diffusers `Attention` built from the old `AttentionBlock`): one head as wide as the
 * channels, biases on q/k/v, and a residual: out = to_out(attention(q, k, v of group_norm(x))) + x.
 */
export class VaeAttention {
  private constructor(
    private readonly norm: Norm,
    private readonly qkv: Linear,
    private readonly out: Linear,
    private readonly groups: number,
  ) {}

  static async load(p: ParamLoader, c: number, groups: number): Promise<VaeAttention> {
    // Checkpoints converted from the original repository keep the old names.
    const old = !p.has('to_q.weight') && p.has('query.weight');
    const names = old ? ['query', 'key', 'value'] : ['to_q', 'to_k', 'to_v'];
    return new VaeAttention(
      await p.norm('group_norm', c),
      await p.joinedLinear(names, [c, c, c], c, true),
      await p.linear(old ? 'proj_attn' : 'to_out.0', c, c),
      groups,
    );
  }

  forward(ctx: GpuContext, x: Tensor): Tensor {
    const [b, h, w, c] = x.shape as [number, number, number, number];
    const n = groupNorm(ctx, x, this.norm.gamma, this.norm.beta, { groups: this.groups, eps: 1e-6 });
    const qkv = view(linear(ctx, n, this.qkv.w, { bias: this.qkv.b }), [b, h * w, 3 * c]);
    ctx.release(n);
    const s = attention(ctx, { q: { tensor: qkv, offset: 0 }, k: { tensor: qkv, offset: c }, v: { tensor: qkv, offset: 2 * c }, heads: 1 });
    ctx.release(qkv);
    const out = linear(ctx, view(s, x.shape), this.out.w, { bias: this.out.b, residual: x });
    ctx.release(s);
    return out;
  }
}
