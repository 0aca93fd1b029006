/**
 * On-demand suite `sd15` (not in the default run: it takes many minutes on a CPU adapter): one evaluation of the
 * real-size SD 1.5 UNet at 512×512 (64×64 latents), batch 1, with seeded random int8 weights of the real shapes
 * (../shared/fixtures/real-configs), on a device with WebGPU's default buffer limits (128 MiB bindings), to show the
 * engine runs the real model's shapes within them. Reports the load time, the evaluation's wall time, its
 * dispatches, and the GPU memory held (weights plus pooled buffers) next to plan mode's prediction.
 */
import { GpuContext } from '../engine/gpu/context';
import { adapterName } from '../engine/gpu/device';
import { nodeGpu } from '../engine/gpu/node-gpu';
import { parseUNetConfig } from '../engine/models/config';
import type { ParamSource } from '../engine/models/params';
import { UNet } from '../engine/models/unet';
import { planGeneration } from '../engine/plan';
import { realModelFiles } from './real-configs';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/** Weights uniform in ±1/√fan-in, norm scales near 1, biases near 0: activations stay in range through the layers. */
export function randomSource(shapes: ParamSource): ParamSource {
  let seed = 1;
  return {
    ...shapes,
    read: (name) => {
      const shape = shapes.shape(name)!;
      const n = shape.reduce((a, b) => a * b, 1);
      const fanIn = shape.length > 1 ? n / shape[0]! : 1;
      const [centre, scale] = shape.length > 1 ? [0, 1 / Math.sqrt(fanIn)] : name.endsWith('.weight') ? [1, 0.1] : [0, 0.1];
      let s = seed++ * 2654435761;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        out[i] = centre + scale * (s / 2 ** 31 - 1);
      }
      return Promise.resolve(out);
    },
  };
}

export async function runSd15Bench(): Promise<void> {
  console.log('\n## SD 1.5 UNet, real size: 512×512, batch 1, random int8 weights, default buffer limits\n');
  const ctx = await GpuContext.create(await nodeGpu(), { defaultBufferLimits: true });
  try {
    const files = realModelFiles('sd15');
    const config = parseUNetConfig(JSON.parse((await files.text('unet/config.json'))!));
    console.log(`Adapter: ${adapterName(ctx.adapter)}, bindings up to ${ctx.maxBindingBytes / 2 ** 20} MiB`);
    let start = performance.now();
    const unet = await UNet.load(ctx, config, randomSource(await files.weights('unet')), { format: 'int8' });
    await ctx.sync();
    console.log(`Load (random weights, quantised and uploaded): ${((performance.now() - start) / 1000).toFixed(1)} s, ${mb(ctx.memory().weightBytes)} of weights`);
    const text = ctx.upload(new Float32Array(77 * config.crossAttentionDim).map((_, i) => Math.sin(i)), [1, 77, config.crossAttentionDim], 'text');
    const kv = unet.crossKV(ctx, text);
    ctx.release(text);
    await ctx.sync();
    ctx.profiler.reset();
    ctx.resetPeaks();
    const latents = new Float32Array(64 * 64 * 4).map((_, i) => Math.cos(i * 0.37));
    start = performance.now();
    const x = ctx.upload(latents, [1, 64, 64, 4], 'latents');
    const out = unet.forward(ctx, x, 999, kv);
    ctx.release(x);
    const result = await ctx.read(out);
    const seconds = (performance.now() - start) / 1000;
    ctx.release(out);
    const memory = ctx.memory();
    const finite = result.every(Number.isFinite);
    const plan = await planGeneration(files, {
      width: 512,
      height: 512,
      guidance: false,
      format: 'int8',
      memory: 'low',
      // Desktop limits: the whole-generation plan includes the 512×512 decode, whose largest buffer is over 128 MiB;
      // only the denoise stage's figures are compared here.
    });
    const planned = plan.stages.find((s) => s.stage === 'denoise')!;
    console.log(`Evaluation: ${seconds.toFixed(1)} s wall, ${ctx.profiler.dispatches} dispatches, output ${finite ? 'finite' : 'NOT finite'}`);
    console.log(
      `GPU memory: peak ${mb(memory.peakBytes)} (weights ${mb(memory.weightBytes)} + pool ${mb(memory.peakAllocatedBytes)}); ` +
        `plan mode's UNet stage for this setting: ${mb(planned.peakBytes)}, largest buffer ${mb(planned.largestBuffer)}`,
    );
    unet.releaseCrossKV(ctx, kv);
    unet.destroy();
  } finally {
    await ctx.destroy();
  }
}
