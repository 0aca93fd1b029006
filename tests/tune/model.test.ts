/**
 * A tuning table is used by a model run: the tiny UNet, opened through the pipeline with a table that gives every
 * recorded shape a configuration other than the default (GEMM and conv tiles, another conv algorithm — Winograd
 * F(4×4) for every other weight —, another attention tile), takes each of them and still matches the reference
 * output.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolder } from '../../cli/model-folder';
import { GpuContext } from '../../engine/gpu/context';
import { createPlanDevice } from '../../engine/gpu/plan-device';
import { UNet } from '../../engine/models/unet';
import { preferredConvAlgorithm, type ConvTile, type ConvWeightAlgorithm } from '../../engine/ops/conv2d';
import type { GemmTile } from '../../engine/ops/gemm';
import { StableDiffusion } from '../../engine/pipeline';
import { attentionCandidates } from '../../engine/tune/candidates';
import { ShapeRecorder } from '../../engine/tune/record';
import { shapeKey, type AttentionShape, type ConvShape, type ConvWeightShape, type GemmShape, type OpTuning } from '../../engine/tune/shapes';
import { emptyTable, TableTuning, type TunedConfig } from '../../engine/tune/table';
import { cases, tensor, TINY_MODEL, toNchw, toNhwc } from '../models/fixtures';
import { expectClose, gpuContext } from '../helpers/gpu';

// As the UNet's own test: f32 weights, 1e-4 of the output's max magnitude.
const TOL = 1e-4;
const GEMM_TILE: GemmTile = { tileM: 32, tileN: 32, tileK: 16, vec: 4, wptM: 2, wptN: 2 };
const CONV_TILE: ConvTile = { tm: 32, tn: 32, tk: 16, rm: 8 };

/** Counts the lookups a table answered, per op. */
class CountingTuning implements OpTuning {
  readonly hits = { gemm: 0, conv: 0, 'conv-algorithm': 0, attention: 0 };
  readonly convAlgorithms = new Set<ConvWeightAlgorithm>();
  constructor(private readonly inner: OpTuning) {}
  private count<T>(op: keyof CountingTuning['hits'], v: T | undefined): T | undefined {
    if (v !== undefined) this.hits[op]++;
    return v;
  }
  gemm(s: GemmShape) {
    return this.count('gemm', this.inner.gemm(s));
  }
  conv(s: ConvShape) {
    this.convAlgorithms.add(s.algorithm);
    return this.count('conv', this.inner.conv(s));
  }
  convAlgorithm(s: ConvWeightShape) {
    return this.count('conv-algorithm', this.inner.convAlgorithm(s));
  }
  attention(s: AttentionShape) {
    return this.count('attention', this.inner.attention(s));
  }
}

describe('a tuning table in a model run', () => {
  const folder = new ModelFolder(TINY_MODEL);
  afterAll(() => folder.close());

  // As long as the UNet's own reference test: one evaluation, its pipelines compiled once (SwiftShader: seconds each).
  it('the UNet takes the tuned configurations and its output still matches the reference', { timeout: 300_000 }, async () => {
    const ctx = await gpuContext();
    const c = cases.unet[0]!;
    const [b, ch, h, w] = c.sample.shape as [number, number, number, number];
    const run = async (sd: StableDiffusion) => {
      const unet = await sd.unetStage();
      const x = ctx.upload(toNhwc(tensor(c.sample), c.sample.shape), [b, h, w, ch], 'sample');
      const text = ctx.upload(tensor(c.encoder_hidden_states), c.encoder_hidden_states.shape, 'text');
      const kv = unet.crossKV(ctx, text);
      const out = unet.forward(ctx, x, c.timestep, kv);
      const values = toNchw(await ctx.read(out), c.out.shape);
      ctx.release(x, text, out);
      unet.releaseCrossKV(ctx, kv);
      sd.unload();
      return values;
    };

    // The shapes of this run, recorded on a plan device (no GPU work, no weights read).
    const recorder = new ShapeRecorder();
    const plan = createPlanDevice();
    const planCtx = GpuContext.fromDevice(plan.device, plan.summary);
    planCtx.tuning = recorder;
    const config = (await StableDiffusion.open(planCtx, folder, { format: 'f32' })).configs.unet;
    const dry = await UNet.load(planCtx, config, await folder.weights('unet'), { format: 'f32', dry: true });
    const kv = dry.crossKV(planCtx, planCtx.empty(c.encoder_hidden_states.shape, 'text'));
    dry.forward(planCtx, planCtx.empty([b, h, w, ch], 'sample'), c.timestep, kv);
    const table = emptyTable(ctx.adapter);
    let weights = 0;
    for (const { shape, key } of recorder.shapes()) {
      let chosen: TunedConfig;
      if (shape.op === 'gemm') chosen = { op: 'gemm', tile: GEMM_TILE };
      else if (shape.op === 'conv') chosen = { op: 'conv', tile: CONV_TILE };
      else if (shape.op === 'conv-algorithm') {
        if (shape.stride !== 1) continue;
        const other = preferredConvAlgorithm(shape.cin, shape.stride) === 'winograd' ? 'direct' : 'winograd';
        chosen = { op: 'conv-algorithm', algorithm: weights++ % 2 ? 'winograd4' : other };
      } else chosen = { op: 'attention', tile: attentionCandidates(ctx, shape.headDim, shape.tk)[0]! };
      table.entries[key] = { shape, default: chosen, chosen, defaultMs: 1, ms: 1, tried: 1, rejected: 0 };
    }
    // Conv entries for the other algorithms, which the recording (default algorithms) did not see.
    for (const e of Object.values(table.entries)) {
      if (e.shape.op !== 'conv' || e.shape.stride !== 1 || e.shape.padding !== 'symmetric') continue;
      for (const algorithm of ['direct', 'winograd', 'winograd4'] as const) {
        const shape: ConvShape = { ...e.shape, algorithm };
        table.entries[shapeKey(shape)] ??= { ...e, shape };
      }
    }

    const sd = await StableDiffusion.open(ctx, folder, { format: 'f32', tuning: table });
    expect(ctx.tuning).toBeInstanceOf(TableTuning);
    const counting = new CountingTuning(ctx.tuning!);
    ctx.tuning = counting;
    const tuned = await run(sd);
    ctx.tuning = undefined;
    expectClose(tuned, tensor(c.out), TOL, 'tuned noise prediction');
    const kinds = new Set(recorder.shapes().map((s) => s.shape.op));
    for (const op of kinds) expect(counting.hits[op], op).toBeGreaterThan(0);
    expect(counting.hits.conv).toBe(recorder.shapes().filter((s) => s.shape.op === 'conv').reduce((n, s) => n + s.count, 0));
    // The table's algorithm reached the loader: layers loaded F(4×4) weights, and the others theirs.
    expect([...counting.convAlgorithms].sort()).toEqual(['direct', 'winograd', 'winograd4']);
  });
});
