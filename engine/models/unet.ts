/**
 * diffusers `UNet2DConditionModel` for the SD 1.x / 2.x family: (latents, timestep, text states) → predicted noise
 * (or v). Latents are NHWC [B, H/8, W/8, 4]; text states [B, 77, cross_attention_dim].
 *
 *   temb = silu(linear_2(silu(linear_1(timestep_embedding(t)))))     (silu folded into the GEMM epilogues)
 *   every ResNet block's time_emb_proj(temb) in one GEMM over their joined weights (one dispatch, not 22)
 *   h = conv_in(x); down blocks (resnets [+ transformers], downsample) push skip states;
 *   mid block (resnet, transformer, resnet); up blocks pop a skip per resnet and join it to h along channels;
 *   out = conv_out(silu(conv_norm_out(h)))
 *
 * Skip connections: each skip state is written, as it is produced, into the second half of the joined buffer its
 * up-block resnet will read, and the up path writes its h into the first half; no concat copy runs.
 */
import type { GpuContext } from '../gpu/context';
import { ShapeError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { conv2d } from '../ops/conv2d';
import { linear } from '../ops/gemm';
import { groupNorm } from '../ops/group-norm';
import { timestepEmbedding } from '../ops/timestep-embedding';
import { ResnetBlock, SpatialTransformer, type Dest } from './blocks';
import type { UNetConfig } from './config';
import { ParamLoader, type Conv3x3, type Linear, type LoadOptions, type Norm, type ParamSource } from './params';

/** One step of the UNet after the down path, in execution order (so each step knows who reads its result). */
type UpStep =
  | { kind: 'resnet'; block: ResnetBlock; state: number }
  | { kind: 'attention'; block: SpatialTransformer; kv: number }
  | { kind: 'upsample'; conv: Conv3x3 };

interface DownBlock {
  resnets: ResnetBlock[];
  attentions: SpatialTransformer[];
  downsample?: Conv3x3;
}

/** Cross-attention keys/values of one generation's text, one tensor per transformer layer in execution order. */
export interface CrossKV {
  tensors: Tensor[];
}

export class UNet {
  private constructor(
    readonly config: UNetConfig,
    private readonly loader: ParamLoader,
    private readonly time1: Linear,
    private readonly time2: Linear,
    private readonly condProj: Linear | undefined,
    /** Every ResNet block's time_emb_proj joined: one GEMM per evaluation instead of one per block. */
    private readonly timeProj: Linear,
    private readonly convIn: Conv3x3,
    private readonly down: DownBlock[],
    private readonly upSteps: UpStep[],
    /** For each skip state (in push order): channels of the h half and of the joined buffer. */
    private readonly joins: { offset: number; width: number }[],
    private readonly transformers: SpatialTransformer[],
    private readonly normOut: Norm,
    private readonly convOut: Conv3x3,
  ) {}

  static async load(ctx: GpuContext, config: UNetConfig, source: ParamSource, options: LoadOptions): Promise<UNet> {
    const root = new ParamLoader(ctx, source, options);
    const ch = config.blockOutChannels;
    const temb = ch[0]! * 4;
    const { normNumGroups: groups, normEps: eps, layersPerBlock: layers, crossAttentionDim: crossDim } = config;
    const time1 = await root.linear('time_embedding.linear_1', temb, ch[0]!);
    const time2 = await root.linear('time_embedding.linear_2', temb, temb);
    // LCM-distilled UNets take the guidance scale as an embedding added to the timestep's.
    const condProj = config.timeCondProjDim ? await root.linear('time_embedding.cond_proj', ch[0]!, config.timeCondProjDim, false) : undefined;
    const convIn = await root.conv3x3('conv_in', ch[0]!, config.inChannels);
    const transformers: SpatialTransformer[] = [];
    const timeNames: string[] = [];
    const timeWidths: number[] = [];
    /** Registers a block's time_emb_proj for the joined GEMM; returns where its channels start. */
    const timeSlot = (block: string, width: number) => {
      const offset = timeWidths.reduce((a, b) => a + b, 0);
      timeNames.push(`${block}.time_emb_proj`);
      timeWidths.push(width);
      return offset;
    };
    const stateChannels = [ch[0]!];
    const down: DownBlock[] = [];
    let c = ch[0]!;
    // The lowest resolution (latents / 2^(blocks−1): 8×8 at 512²) has so few pixels that its convolutions mostly read
    // weights, which Winograd's layout makes 16/9 as large, in two dispatches instead of one: by default they run direct.
    const last = ch.length - 1;
    const lowest = (p: ParamLoader) => p.preferDirect();
    for (let i = 0; i < ch.length; i++) {
      const p = i === last ? lowest(root.scoped(`down_blocks.${i}`)) : root.scoped(`down_blocks.${i}`);
      const block: DownBlock = { resnets: [], attentions: [] };
      for (let j = 0; j < layers; j++) {
        block.resnets.push(await ResnetBlock.load(p.scoped(`resnets.${j}`), c, ch[i]!, timeSlot(`down_blocks.${i}.resnets.${j}`, ch[i]!), groups, eps));
        c = ch[i]!;
        if (config.downBlockAttention[i]) {
          const t = await SpatialTransformer.load(p.scoped(`attentions.${j}`), c, config.heads[i]!, crossDim, config.transformerLayers[i]!, groups);
          block.attentions.push(t);
          transformers.push(t);
        }
        stateChannels.push(c);
      }
      if (i < ch.length - 1) {
        block.downsample = await p.conv3x3('downsamplers.0.conv', c, c, 2);
        stateChannels.push(c);
      }
      down.push(block);
    }
    const steps: UpStep[] = [];
    const mid = lowest(root.scoped('mid_block'));
    steps.push({ kind: 'resnet', block: await ResnetBlock.load(mid.scoped('resnets.0'), c, c, timeSlot('mid_block.resnets.0', c), groups, eps), state: -1 });
    const midAttention = await SpatialTransformer.load(mid.scoped('attentions.0'), c, config.heads[last]!, crossDim, config.transformerLayers[last]!, groups);
    transformers.push(midAttention);
    steps.push({ kind: 'attention', block: midAttention, kv: transformers.length - 1 });
    steps.push({ kind: 'resnet', block: await ResnetBlock.load(mid.scoped('resnets.1'), c, c, timeSlot('mid_block.resnets.1', c), groups, eps), state: -1 });
    const joins = stateChannels.map(() => ({ offset: 0, width: 0 }));
    let state = stateChannels.length;
    for (let i = 0; i < ch.length; i++) {
      const p = i === 0 ? lowest(root.scoped(`up_blocks.${i}`)) : root.scoped(`up_blocks.${i}`);
      const out = ch[last - i]!;
      for (let j = 0; j <= layers; j++) {
        state--;
        const skip = stateChannels[state]!;
        joins[state] = { offset: c, width: c + skip };
        const time = timeSlot(`up_blocks.${i}.resnets.${j}`, out);
        steps.push({ kind: 'resnet', block: await ResnetBlock.load(p.scoped(`resnets.${j}`), c + skip, out, time, groups, eps), state });
        c = out;
        if (config.upBlockAttention[i]) {
          const t = await SpatialTransformer.load(p.scoped(`attentions.${j}`), c, config.heads[last - i]!, crossDim, config.transformerLayers[last - i]!, groups);
          transformers.push(t);
          steps.push({ kind: 'attention', block: t, kv: transformers.length - 1 });
        }
      }
      if (i < ch.length - 1) steps.push({ kind: 'upsample', conv: await p.conv3x3('upsamplers.0.conv', c, c) });
    }
    const normOut = await root.norm('conv_norm_out', ch[0]!);
    const convOut = await root.conv3x3('conv_out', config.outChannels, ch[0]!);
    const timeProj = await root.joinedLinear(timeNames, timeWidths, temb, true);
    return new UNet(config, root, time1, time2, condProj, timeProj, convIn, down, steps, joins, transformers, normOut, convOut);
  }

  /** Checkpoint tensors this model did not use (a complete load leaves none). */
  unused(): string[] {
    return this.loader.unused();
  }

  /** The text's keys and values for every cross-attention: computed once per generation. */
  crossKV(ctx: GpuContext, text: Tensor): CrossKV {
    return { tensors: this.transformers.flatMap((t) => t.crossKV(ctx, text)) };
  }

  releaseCrossKV(ctx: GpuContext, kv: CrossKV): void {
    ctx.release(...kv.tensors);
  }

  /**
   * sample NHWC [B, h, w, in_channels], any h and w: as in diffusers, each downsampling gives ⌈h/2⌉ and each
   * upsampling enlarges to the size of the skip connection it is joined with (2h or 2h − 1); timestep as the
   * scheduler gives it; `guidance`: the guidance scale, for UNets distilled with it as an input
   * (`time_cond_proj_dim`, LCM).
   */
  forward(ctx: GpuContext, sample: Tensor, timestep: number, kv: CrossKV, guidance?: number): Tensor {
    const [batch, height, width] = sample.shape as [number, number, number, number];
    if (sample.shape.length !== 4 || sample.shape[3] !== this.config.inChannels) {
      throw new ShapeError(`UNet: latents ${sample.shape.join('×')} must be [B, h, w, ${this.config.inChannels}]`);
    }
    const layerKV = this.splitKV(kv);
    const tembAct = this.timeEmbedding(ctx, batch, timestep, guidance);
    const time = linear(ctx, tembAct, this.timeProj.w, { bias: this.timeProj.b });
    ctx.release(tembAct);

    // Each skip state goes straight into the joined buffer its up resnet reads.
    const joined: Tensor[] = [];
    const skipDest = (state: number, h: number, w: number): Dest => {
      const { offset, width: channels } = this.joins[state]!;
      joined[state] = ctx.empty([batch, h, w, channels], `skip ${state}`);
      return { skip: { tensor: joined[state]!, offset } };
    };
    let state = 0;
    let hh = height;
    let ww = width;
    let x = conv2d(ctx, sample, this.convIn.w, { bias: this.convIn.b, ...skipDest(state++, hh, ww) });
    let t = 0;
    for (const block of this.down) {
      block.resnets.forEach((resnet, j) => {
        const attention = block.attentions[j];
        const y = resnet.forward(ctx, x, time, attention ? {} : skipDest(state, hh, ww));
        ctx.release(x);
        x = y;
        if (attention) {
          const z = attention.forward(ctx, x, layerKV[t++]!, skipDest(state, hh, ww));
          ctx.release(x);
          x = z;
        }
        state++;
      });
      if (block.downsample) {
        hh = Math.ceil(hh / 2);
        ww = Math.ceil(ww / 2);
        const y = conv2d(ctx, x, block.downsample.w, { bias: block.downsample.b, stride: 2, ...skipDest(state++, hh, ww) });
        ctx.release(x);
        x = y;
      }
    }

    this.upSteps.forEach((step, k) => {
      const next = this.upSteps[k + 1];
      const target = next?.kind === 'resnet' && next.state >= 0 ? joined[next.state] : undefined;
      const dest: Dest = target ? { out: { tensor: target, offset: 0 } } : {};
      let y: Tensor;
      if (step.kind === 'resnet') y = step.block.forward(ctx, x, time, dest);
      else if (step.kind === 'attention') y = step.block.forward(ctx, x, layerKV[step.kv]!, dest);
      else if (!target) throw new ShapeError('UNet: an upsampler must be followed by an up-block resnet that joins a skip connection');
      else {
        // diffusers passes the skip connection's size as `upsample_size`: 2h, or 2h − 1 below an odd level.
        const [, th, tw] = target.shape as [number, number, number, number];
        y = conv2d(ctx, x, step.conv.w, { bias: step.conv.b, upsample: [th, tw], ...dest });
      }
      ctx.release(x);
      x = y;
    });
    ctx.release(time);

    const n = groupNorm(ctx, x, this.normOut.gamma, this.normOut.beta, { groups: this.config.normNumGroups, eps: this.config.normEps, silu: true });
    ctx.release(x);
    const out = conv2d(ctx, n, this.convOut.w, { bias: this.convOut.b });
    ctx.release(n);
    return out;
  }

  destroy(): void {
    this.loader.destroy();
  }

  /** silu(temb) [B, 4·C0]: the only form in which the resnets use the time embedding. */
  private timeEmbedding(ctx: GpuContext, batch: number, timestep: number, guidance: number | undefined): Tensor {
    const t = ctx.upload(new Float32Array(batch).fill(timestep), [batch], 'timestep');
    let e = timestepEmbedding(ctx, t, { dim: this.config.blockOutChannels[0]!, flipSinToCos: this.config.flipSinToCos, freqShift: this.config.freqShift });
    ctx.release(t);
    if (this.condProj) {
      if (guidance === undefined) throw new ShapeError('This UNet takes the guidance scale as an input (an LCM model): pass it');
      const w = ctx.upload(guidanceEmbedding(guidance, batch, this.config.timeCondProjDim!), [batch, this.config.timeCondProjDim!], 'guidance');
      const sum = linear(ctx, w, this.condProj.w, { residual: e });
      ctx.release(w, e);
      e = sum;
    }
    const e1 = linear(ctx, e, this.time1.w, { bias: this.time1.b, activation: 'silu' });
    const out = linear(ctx, e1, this.time2.w, { bias: this.time2.b, activation: 'silu' });
    ctx.release(e, e1);
    return out;
  }

  /** Groups the flat CrossKV list by transformer (each has as many tensors as layers). */
  private splitKV(kv: CrossKV): Tensor[][] {
    let i = 0;
    return this.transformers.map((t) => {
      const n = t.depth;
      const part = kv.tensors.slice(i, i + n);
      i += n;
      return part;
    });
  }
}

/**
 * diffusers' `get_guidance_scale_embedding` as the LCM pipeline calls it, with w = guidance − 1:
 * [sin(1000·w·f_i), cos(1000·w·f_i)], f_i = exp(−ln(10000)·i / (dim/2 − 1)), one row per batch entry.
 */
export function guidanceEmbedding(guidance: number, batch: number, dim: number): Float32Array {
  const half = Math.floor(dim / 2);
  const w = (guidance - 1) * 1000;
  const row = new Float32Array(dim);
  for (let i = 0; i < half; i++) {
    const f = Math.fround(Math.exp((-Math.log(10000) / (half - 1)) * i));
    row[i] = Math.sin(w * f);
    row[half + i] = Math.cos(w * f);
  }
  const out = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) out.set(row, b * dim);
  return out;
}
