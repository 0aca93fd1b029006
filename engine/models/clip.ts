/**
 * CLIP text encoder (transformers' `CLIPTextModel`): token ids → `last_hidden_state` [B, 77, hidden].
 *
 *   x = token_embedding[ids] + position_embedding
 *   per layer:  x = x + out_proj(attention(causal, q/k/v_proj(layer_norm1(x))))
 *               x = x + fc2(act(fc1(layer_norm2(x))))          act = quick_gelu (SD 1.x) or gelu (SD 2.x)
 *   final_layer_norm(x)
 *
 * q, k and v come from one GEMM over their joined weights; residual adds ride in the GEMM epilogue; the causal
 * mask is part of the attention kernel. Checkpoint names with or without transformers' `text_model.` prefix load.
 */
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { attention } from '../ops/attention';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/gemm';
import { layerNorm } from '../ops/layer-norm';
import type { ClipTextConfig } from './config';
import { ParamLoader, type Linear, type Norm, type ParamSource, type LoadOptions } from './params';

interface ClipLayer {
  norm1: Norm;
  qkv: Linear;
  out: Linear;
  norm2: Norm;
  fc1: Linear;
  fc2: Linear;
}

export class ClipTextEncoder {
  private constructor(
    readonly config: ClipTextConfig,
    private readonly loader: ParamLoader,
    private readonly tokens: Tensor,
    private readonly positions: Tensor,
    private readonly layers: ClipLayer[],
    private readonly finalNorm: Norm,
  ) {}

  static async load(ctx: GpuContext, config: ClipTextConfig, source: ParamSource, options: LoadOptions): Promise<ClipTextEncoder> {
    const root = new ParamLoader(ctx, source, options, source.shape('text_model.embeddings.token_embedding.weight') ? 'text_model.' : '');
    const c = config.hiddenSize;
    const tokens = await root.embedding('embeddings.token_embedding.weight', config.vocabSize, c);
    const positions = await root.dense('embeddings.position_embedding.weight', [config.maxPositionEmbeddings, c]);
    const layers: ClipLayer[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const p = root.scoped(`encoder.layers.${i}`);
      const attn = ['q_proj', 'k_proj', 'v_proj'].map((n) => `self_attn.${n}`);
      layers.push({
        norm1: await p.norm('layer_norm1', c),
        qkv: await p.joinedLinear(attn, [c, c, c], c, true),
        out: await p.linear('self_attn.out_proj', c, c),
        norm2: await p.norm('layer_norm2', c),
        fc1: await p.linear('mlp.fc1', config.intermediateSize, c),
        fc2: await p.linear('mlp.fc2', c, config.intermediateSize),
      });
    }
    const finalNorm = await root.norm('final_layer_norm', c);
    return new ClipTextEncoder(config, root, tokens, positions, layers, finalNorm);
  }

  /** Checkpoint tensors this model did not use (a complete load leaves none). */
  unused(): string[] {
    return this.loader.unused();
  }

  /** ids: f32 [B, T] token ids (T ≤ max positions) → last_hidden_state f32 [B, T, hidden]. */
  encode(ctx: GpuContext, ids: Tensor): Tensor {
    const { hiddenSize: c, numAttentionHeads: heads, layerNormEps: eps } = this.config;
    const activation = this.config.hiddenAct === 'quick_gelu' ? 'quick-gelu' : 'gelu';
    let x = embedding(ctx, ids, this.tokens, this.positions);
    for (const layer of this.layers) {
      const h = layerNorm(ctx, x, layer.norm1.gamma, layer.norm1.beta, { eps });
      const qkv = linear(ctx, h, layer.qkv.w, { bias: layer.qkv.b });
      ctx.release(h);
      const a = attention(ctx, {
        q: { tensor: qkv, offset: 0 },
        k: { tensor: qkv, offset: c },
        v: { tensor: qkv, offset: 2 * c },
        heads,
        causal: true,
      });
      ctx.release(qkv);
      const x1 = linear(ctx, a, layer.out.w, { bias: layer.out.b, residual: x });
      ctx.release(a, x);
      const h2 = layerNorm(ctx, x1, layer.norm2.gamma, layer.norm2.beta, { eps });
      const f = linear(ctx, h2, layer.fc1.w, { bias: layer.fc1.b, activation });
      ctx.release(h2);
      x = linear(ctx, f, layer.fc2.w, { bias: layer.fc2.b, residual: x1 });
      ctx.release(f, x1);
    }
    const out = layerNorm(ctx, x, this.finalNorm.gamma, this.finalNorm.beta, { eps });
    ctx.release(x);
    return out;
  }

  destroy(): void {
    this.loader.destroy();
  }
}
