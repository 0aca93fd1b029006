import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CorruptModelError, InvalidConfigError, UnsupportedModelError } from '../../engine/io/errors';
import {
  parseClipTextConfig,
  parseConfigJson,
  parseModelIndex,
  parseSchedulerConfig,
  parseUNetConfig,
  parseVaeConfig,
  schedulerNameOfClass,
  type UNetConfig,
} from '../../engine/models/config';

const FIXTURES = new URL('../../../shared/fixtures/', import.meta.url).pathname;
const modelFile = (path: string) => readFileSync(`${FIXTURES}tiny-sd1/model/${path}`, 'utf8');
interface RealConfig {
  config: Record<string, unknown>;
  tensors: Record<string, number[]>;
}
const real = (name: string): RealConfig => JSON.parse(readFileSync(`${FIXTURES}real-configs/${name}.json`, 'utf8')) as RealConfig;

/** The error a call throws, for checking its class and message together. */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function expectError(f: () => unknown, type: typeof InvalidConfigError | typeof UnsupportedModelError | typeof CorruptModelError, message: RegExp): void {
  const e = thrown(f);
  expect(e, e.message).toBeInstanceOf(type);
  expect(e.message).toMatch(message);
}

/** Largest index N + 1 of `prefix.N.` among the tensor names: how many modules a ModuleList holds. */
function countModules(tensors: Record<string, number[]>, prefix: string): number {
  let n = 0;
  for (const key of Object.keys(tensors)) {
    if (key.startsWith(prefix + '.')) n = Math.max(n, Number(key.slice(prefix.length + 1).split('.')[0]) + 1);
  }
  return n;
}

/** Checks a parsed UNet config against the tensor shapes of the checkpoint it came with. */
function expectUNetMatchesTensors(c: UNetConfig, t: Record<string, number[]>): void {
  const n = c.blockOutChannels.length;
  expect(t['conv_in.weight']).toEqual([c.blockOutChannels[0], c.inChannels, 3, 3]);
  expect(t['conv_out.weight']).toEqual([c.outChannels, c.blockOutChannels[0], 3, 3]);
  expect(t['time_embedding.linear_1.weight']).toEqual([c.timeEmbeddingDim, c.blockOutChannels[0]]);
  const transformer = (prefix: string, level: number) => {
    const ch = c.blockOutChannels[level]!;
    expect(t[`${prefix}.proj_in.weight`], prefix).toEqual(c.useLinearProjection ? [ch, ch] : [ch, ch, 1, 1]);
    expect(countModules(t, `${prefix}.transformer_blocks`)).toBe(c.transformerLayers[level]);
    expect(t[`${prefix}.transformer_blocks.0.attn2.to_k.weight`]).toEqual([ch, c.crossAttentionDim]);
    expect(c.heads[level]! * c.headDims[level]!).toBe(ch);
  };
  for (let i = 0; i < n; i++) {
    expect(countModules(t, `down_blocks.${i}.resnets`)).toBe(c.layersPerBlock);
    expect(countModules(t, `down_blocks.${i}.attentions`)).toBe(c.downBlockAttention[i] ? c.layersPerBlock : 0);
    if (c.downBlockAttention[i]) transformer(`down_blocks.${i}.attentions.0`, i);
    expect(countModules(t, `up_blocks.${i}.resnets`)).toBe(c.layersPerBlock + 1);
    if (c.upBlockAttention[i]) transformer(`up_blocks.${i}.attentions.0`, n - 1 - i);
    expect(countModules(t, `down_blocks.${i}.downsamplers`)).toBe(i < n - 1 ? 1 : 0);
    expect(countModules(t, `up_blocks.${i}.upsamplers`)).toBe(i < n - 1 ? 1 : 0);
  }
  transformer('mid_block.attentions.0', n - 1);
}

describe('configs of the tiny-sd1 model folder', () => {
  it('model_index.json', () => {
    expect(parseModelIndex(modelFile('model_index.json'))).toEqual({
      pipelineClass: 'StableDiffusionPipeline',
      schedulerClass: 'PNDMScheduler',
      components: {
        text_encoder: { library: 'transformers', className: 'CLIPTextModel' },
        tokenizer: { library: 'transformers', className: 'CLIPTokenizer' },
        unet: { library: 'diffusers', className: 'UNet2DConditionModel' },
        vae: { library: 'diffusers', className: 'AutoencoderKL' },
        scheduler: { library: 'diffusers', className: 'PNDMScheduler' },
      },
    });
  });

  it('unet/config.json: attention_head_dim 4 is the head count', async () => {
    const c = parseUNetConfig(modelFile('unet/config.json'));
    expect(c).toEqual({
      sampleSize: 16,
      inChannels: 4,
      outChannels: 4,
      blockOutChannels: [32, 32, 64, 64],
      downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      downBlockAttention: [true, true, true, false],
      upBlockAttention: [false, true, true, true],
      midBlockType: 'UNetMidBlock2DCrossAttn',
      layersPerBlock: 2,
      transformerLayers: [1, 1, 1, 1],
      heads: [4, 4, 4, 4],
      headDims: [8, 8, 16, 16],
      crossAttentionDim: 64,
      useLinearProjection: false,
      upcastAttention: false,
      normNumGroups: 32,
      normEps: 1e-5,
      actFn: 'silu',
      flipSinToCos: true,
      freqShift: 0,
      timeEmbeddingDim: 128,
      timeCondProjDim: null,
    } satisfies UNetConfig);
    const { openSafetensors } = await import('../../engine/io/safetensors');
    const file = await openSafetensors(new Uint8Array(readFileSync(`${FIXTURES}tiny-sd1/model/unet/diffusion_pytorch_model.safetensors`)));
    expectUNetMatchesTensors(c, Object.fromEntries([...file.tensors].map(([k, v]) => [k, [...v.shape]])));
  });

  it('vae/config.json', () => {
    expect(parseVaeConfig(modelFile('vae/config.json'))).toEqual({
      inChannels: 3,
      outChannels: 3,
      latentChannels: 4,
      blockOutChannels: [16, 32, 32, 32],
      layersPerBlock: 2,
      normNumGroups: 8,
      normEps: 1e-6,
      actFn: 'silu',
      sampleSize: 128,
      scalingFactor: 0.18215,
      shiftFactor: 0,
      forceUpcast: true,
      useQuantConv: true,
      usePostQuantConv: true,
      midBlockAddAttention: true,
    });
  });

  it('text_encoder/config.json', () => {
    expect(parseClipTextConfig(modelFile('text_encoder/config.json'))).toEqual({
      vocabSize: 815,
      hiddenSize: 64,
      intermediateSize: 256,
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      headDim: 16,
      maxPositionEmbeddings: 77,
      hiddenAct: 'quick_gelu',
      layerNormEps: 1e-5,
      projectionDim: 64,
      padTokenId: 814,
      bosTokenId: 813,
      eosTokenId: 814,
    });
  });

  it('scheduler/scheduler_config.json and every pipeline case’s scheduler config', () => {
    const c = parseSchedulerConfig(modelFile('scheduler/scheduler_config.json'));
    expect(c).toEqual({
      _class_name: 'PNDMScheduler',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      clip_sample: false,
      num_train_timesteps: 1000,
      prediction_type: 'epsilon',
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      timestep_spacing: 'leading',
    });
    expect(schedulerNameOfClass(c._class_name!)).toBe('pndm');
    const cases = JSON.parse(readFileSync(`${FIXTURES}tiny-sd1/cases.json`, 'utf8')) as { pipeline: { scheduler_config: Record<string, unknown> }[] };
    for (const p of cases.pipeline) expect(parseSchedulerConfig(p.scheduler_config)).toEqual(p.scheduler_config);
  });
});

describe('real model configs', () => {
  it('SD 1.5 UNet: 8 heads per level, conv projections', () => {
    const { config, tensors } = real('sd15-unet');
    const c = parseUNetConfig(config);
    expect(c.heads).toEqual([8, 8, 8, 8]);
    expect(c.headDims).toEqual([40, 80, 160, 160]);
    expect(c.crossAttentionDim).toBe(768);
    expect(c.useLinearProjection).toBe(false);
    expect(c.sampleSize).toBe(64);
    expectUNetMatchesTensors(c, tensors);
  });

  it('SD 2.1 UNet: a head-count list (64 channels per head), linear projections', () => {
    const { config, tensors } = real('sd21-unet');
    const c = parseUNetConfig(config);
    expect(c.heads).toEqual([5, 10, 20, 20]);
    expect(c.headDims).toEqual([64, 64, 64, 64]);
    expect(c.crossAttentionDim).toBe(1024);
    expect(c.useLinearProjection).toBe(true);
    expectUNetMatchesTensors(c, tensors);
  });

  it('SD VAE', () => {
    const { config, tensors } = real('sd-vae');
    const c = parseVaeConfig(config);
    expect(c).toMatchObject({ blockOutChannels: [128, 256, 512, 512], layersPerBlock: 2, normNumGroups: 32, latentChannels: 4, scalingFactor: 0.18215, sampleSize: 512 });
    expect(tensors['encoder.conv_in.weight']).toEqual([128, c.inChannels, 3, 3]);
    expect(tensors['decoder.conv_in.weight']).toEqual([512, c.latentChannels, 3, 3]);
    expect(tensors['quant_conv.weight']).toEqual([2 * c.latentChannels, 2 * c.latentChannels, 1, 1]);
    expect(countModules(tensors, 'encoder.down_blocks.0.resnets')).toBe(c.layersPerBlock);
    expect(countModules(tensors, 'decoder.up_blocks.0.resnets')).toBe(c.layersPerBlock + 1);
  });

  it('CLIP ViT-L/14 (SD 1.x) and OpenCLIP ViT-H/14 (SD 2.x) text encoders', () => {
    for (const [name, act, hidden, layers] of [['clip-vit-l14-text', 'quick_gelu', 768, 12], ['openclip-vit-h14-text', 'gelu', 1024, 23]] as const) {
      const { config, tensors } = real(name);
      const c = parseClipTextConfig(config);
      expect(c).toMatchObject({ hiddenAct: act, hiddenSize: hidden, numHiddenLayers: layers, maxPositionEmbeddings: 77, vocabSize: 49408, bosTokenId: 49406, eosTokenId: 49407, layerNormEps: 1e-5 });
      expect(tensors['embeddings.token_embedding.weight']).toEqual([c.vocabSize, c.hiddenSize]);
      expect(tensors['encoder.layers.0.mlp.fc1.weight']).toEqual([c.intermediateSize, c.hiddenSize]);
      expect(countModules(tensors, 'encoder.layers')).toBe(c.numHiddenLayers);
      expect(c.headDim * c.numAttentionHeads).toBe(c.hiddenSize);
    }
  });
});

describe('config defaults', () => {
  it('fill missing keys with the Python class defaults', () => {
    const unet = parseUNetConfig({});
    expect(unet).toMatchObject({ blockOutChannels: [320, 640, 1280, 1280], heads: [8, 8, 8, 8], layersPerBlock: 2, crossAttentionDim: 1280, timeEmbeddingDim: 1280, normEps: 1e-5, flipSinToCos: true, sampleSize: 64 });
    expect(parseVaeConfig({})).toMatchObject({ blockOutChannels: [64], layersPerBlock: 1, latentChannels: 4, scalingFactor: 0.18215, normNumGroups: 32 });
    expect(parseClipTextConfig({})).toMatchObject({ hiddenSize: 512, numHiddenLayers: 12, numAttentionHeads: 8, hiddenAct: 'quick_gelu', vocabSize: 49408, padTokenId: 1 });
    expect(parseSchedulerConfig({})).toEqual({});
  });

  it('normalise per-block lists and null-as-default keys', () => {
    const c = parseUNetConfig({ num_attention_heads: [2, 4, 8, 8], attention_head_dim: 64, transformer_layers_per_block: [1, 2, 3, 3], layers_per_block: [2, 2, 2, 2], time_embedding_dim: null, sample_size: null });
    expect(c.heads).toEqual([2, 4, 8, 8]);
    expect(c.headDims).toEqual([160, 160, 160, 160]);
    expect(c.transformerLayers).toEqual([1, 2, 3, 3]);
    expect(c.layersPerBlock).toBe(2);
    expect(c.timeEmbeddingDim).toBe(1280);
    expect(parseUNetConfig({ time_cond_proj_dim: 256 }).timeCondProjDim).toBe(256);
  });

  it('read Python JSON: bare -Infinity / NaN outside strings, null keys left out of scheduler configs', () => {
    const text = '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "note": "NaN -Infinity", "sigma_min": null, "solver_order": 2, "algorithm_type": "dpmsolver++", "variance_type": null}';
    expect(parseConfigJson(text, 'x.json')).toMatchObject({ lambda_min_clipped: -Infinity, note: 'NaN -Infinity' });
    expect(parseSchedulerConfig(text)).toEqual({ _class_name: 'DPMSolverMultistepScheduler', lambda_min_clipped: -Infinity, solver_order: 2, algorithm_type: 'dpmsolver++' });
    expect(schedulerNameOfClass('DPMSolverMultistepScheduler')).toBe('dpm++2m');
    expect(schedulerNameOfClass('LMSDiscreteScheduler')).toBeUndefined();
  });
});

describe('config errors', () => {
  it('damaged files are CorruptModelError naming the file', () => {
    expectError(() => parseUNetConfig('{"in_channels": 4', 'unet/config.json'), CorruptModelError, /unet\/config\.json .*not valid JSON.*download it again/);
    expectError(() => parseVaeConfig('[16, 32]'), CorruptModelError, /vae\/config\.json .*not a JSON object/);
    expectError(() => parseClipTextConfig('"text"'), CorruptModelError, /not a JSON object/);
    expectError(() => parseSchedulerConfig(42), CorruptModelError, /not a JSON object/);
  });

  it('UNet: garbled values are InvalidConfigError naming the key', () => {
    expectError(() => parseUNetConfig({ block_out_channels: [320, '640', 1280, 1280] }), InvalidConfigError, /"block_out_channels": "640" is not an integer/);
    expectError(() => parseUNetConfig({ block_out_channels: [320, 640] }), InvalidConfigError, /2 levels but 4 down and 4 up/);
    expectError(() => parseUNetConfig({ attention_head_dim: [5, 10, 20] }), InvalidConfigError, /"attention_head_dim".*3 entries for 4 blocks/);
    expectError(() => parseUNetConfig({ attention_head_dim: 7 }), InvalidConfigError, /320 channels do not split into 7 heads/);
    expectError(() => parseUNetConfig({ norm_num_groups: 30 }), InvalidConfigError, /do not split into 30 norm groups/);
    expectError(() => parseUNetConfig({ norm_num_groups: null }), InvalidConfigError, /"norm_num_groups": it is null/);
    expectError(() => parseUNetConfig({ in_channels: -4 }), InvalidConfigError, /"in_channels": -4 is not an integer ≥ 1/);
    expectError(() => parseUNetConfig({ norm_eps: '1e-5' }), InvalidConfigError, /"norm_eps"/);
    expectError(() => parseUNetConfig({ use_linear_projection: 'yes' }), InvalidConfigError, /not true or false/);
    expectError(() => parseUNetConfig({ down_block_types: 'CrossAttnDownBlock2D' }), InvalidConfigError, /not a non-empty list/);
  });

  it('UNet: other architectures are UnsupportedModelError', () => {
    const sdxl = { addition_embed_type: 'text_time', transformer_layers_per_block: [1, 2, 10], block_out_channels: [320, 640, 1280], down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'], up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'] };
    expectError(() => parseUNetConfig(sdxl), UnsupportedModelError, /"addition_embed_type" with the value "text_time".*Stable Diffusion 1\.x and 2\.x/);
    expectError(() => parseUNetConfig({ _class_name: 'UNet2DModel' }), UnsupportedModelError, /_class_name/);
    expectError(() => parseUNetConfig({ act_fn: 'mish' }), UnsupportedModelError, /"act_fn" with the value "mish" \(supported: silu\)/);
    expectError(() => parseUNetConfig({ down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] }), UnsupportedModelError, /SimpleCrossAttnDownBlock2D/);
    expectError(() => parseUNetConfig({ mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }), UnsupportedModelError, /mid_block_type/);
    expectError(() => parseUNetConfig({ mid_block_type: null }), UnsupportedModelError, /without a mid block/);
    expectError(() => parseUNetConfig({ only_cross_attention: true }), UnsupportedModelError, /only_cross_attention/);
    expectError(() => parseUNetConfig({ only_cross_attention: [false, true, false, false] }), UnsupportedModelError, /only_cross_attention/);
    expectError(() => parseUNetConfig({ dual_cross_attention: true }), UnsupportedModelError, /dual_cross_attention/);
    expectError(() => parseUNetConfig({ class_embed_type: 'timestep', num_class_embeds: 1000 }), UnsupportedModelError, /class_embed_type/);
    expectError(() => parseUNetConfig({ time_embedding_type: 'fourier' }), UnsupportedModelError, /time_embedding_type/);
    expectError(() => parseUNetConfig({ resnet_time_scale_shift: 'scale_shift' }), UnsupportedModelError, /resnet_time_scale_shift/);
    expectError(() => parseUNetConfig({ conv_in_kernel: 7 }), UnsupportedModelError, /conv_in_kernel/);
    expectError(() => parseUNetConfig({ layers_per_block: [1, 2, 2, 2] }), UnsupportedModelError, /different values per block/);
    expectError(() => parseUNetConfig({ cross_attention_dim: [768, 768, 768, 768] }), UnsupportedModelError, /per-block list/);
    expectError(() => parseUNetConfig({ sample_size: [64, 96] }), UnsupportedModelError, /\[height, width\]/);
  });

  it('VAE and CLIP', () => {
    expectError(() => parseVaeConfig({ latents_mean: [0, 0, 0, 0] }), UnsupportedModelError, /latents_mean/);
    expectError(() => parseVaeConfig({ down_block_types: ['DownEncoderBlock2D'], block_out_channels: [64, 128] }), InvalidConfigError, /2 levels but 1 down/);
    expectError(() => parseVaeConfig({ up_block_types: ['AttnUpDecoderBlock2D'] }), UnsupportedModelError, /AttnUpDecoderBlock2D/);
    expectError(() => parseVaeConfig({ scaling_factor: 0 }), InvalidConfigError, /"scaling_factor": 0 is not a positive number/);
    expectError(() => parseClipTextConfig({ hidden_act: 'gelu_new' }), UnsupportedModelError, /"hidden_act" with the value "gelu_new" \(supported: quick_gelu, gelu\)/);
    expectError(() => parseClipTextConfig({ architectures: ['CLIPVisionModel'] }), UnsupportedModelError, /architectures/);
    expectError(() => parseClipTextConfig({ model_type: 't5' }), UnsupportedModelError, /model_type/);
    expectError(() => parseClipTextConfig({ hidden_size: 100, num_attention_heads: 8 }), InvalidConfigError, /100 channels do not split into 8 heads/);
    expectError(() => parseClipTextConfig({ vocab_size: 815 }), InvalidConfigError, /"pad_token_id": 1|"bos_token_id": 49406 is outside the 815-token vocabulary/);
  });

  it('scheduler', () => {
    expectError(() => parseSchedulerConfig({ prediction_type: 'flow_prediction' }), UnsupportedModelError, /prediction_type.*flow_prediction/);
    expectError(() => parseSchedulerConfig({ timestep_spacing: 5 }), InvalidConfigError, /"timestep_spacing": 5 is not a string/);
    expectError(() => parseSchedulerConfig({ algorithm_type: 'sde-dpmsolver++' }), UnsupportedModelError, /algorithm_type/);
    expectError(() => parseSchedulerConfig({ thresholding: true }), UnsupportedModelError, /thresholding/);
    expectError(() => parseSchedulerConfig({ use_exponential_sigmas: true }), UnsupportedModelError, /use_exponential_sigmas/);
    expectError(() => parseSchedulerConfig({ variance_type: 'learned_range' }), UnsupportedModelError, /variance_type/);
    expectError(() => parseSchedulerConfig({ solver_order: 4 }), UnsupportedModelError, /solver_order/);
    expectError(() => parseSchedulerConfig({ beta_start: 2 }), InvalidConfigError, /"beta_start": 2 is not below 1/);
    expectError(() => parseSchedulerConfig({ beta_end: -0.1 }), InvalidConfigError, /beta_end/);
    expectError(() => parseSchedulerConfig({ steps_offset: 0.5 }), InvalidConfigError, /steps_offset/);
    expectError(() => parseSchedulerConfig({ num_train_timesteps: 3, trained_betas: [0.1, 0.2] }), InvalidConfigError, /trained_betas.*3 numbers/);
    expect(parseSchedulerConfig({ num_train_timesteps: 2, trained_betas: [0.1, 0.2] }).trained_betas).toEqual([0.1, 0.2]);
    expectError(() => parseSchedulerConfig({ clip_sample: 'false' }), InvalidConfigError, /clip_sample/);
    expectError(() => parseSchedulerConfig({ _class_name: 3 }), InvalidConfigError, /_class_name/);
  });

  it('model_index.json', () => {
    const sd = JSON.parse(modelFile('model_index.json')) as Record<string, unknown>;
    expectError(() => parseModelIndex({ ...sd, text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'] }), UnsupportedModelError, /"text_encoder_2" as an extra component/);
    expectError(() => parseModelIndex({ ...sd, unet: [null, null] }), UnsupportedModelError, /"unet" missing/);
    expectError(() => parseModelIndex({ ...sd, text_encoder: ['transformers', 'T5EncoderModel'] }), UnsupportedModelError, /T5EncoderModel \(expected CLIPTextModel\)/);
    expectError(() => parseModelIndex({ ...sd, vae: ['diffusers'] }), InvalidConfigError, /"vae"/);
    expectError(() => parseModelIndex({ ...sd, _class_name: undefined }), InvalidConfigError, /_class_name/);
    const withChecker = parseModelIndex({ ...sd, safety_checker: ['stable_diffusion', 'StableDiffusionSafetyChecker'], requires_safety_checker: true });
    expect(withChecker.components['safety_checker']?.className).toBe('StableDiffusionSafetyChecker');
  });
});
