/**
 * Plan suite: the real SD 1.5 and SD 2.1 models (configs and checkpoint shapes from ../shared/fixtures/real-configs)
 * at 512×512 with guidance (UNet batch 2), planned without weights and without GPU work (engine/plan.ts): dispatches
 * per UNet evaluation, UNet weights, peak GPU memory (weights plus pooled buffers) of a whole generation with memory
 * 'fast' and 'low', each stage's peak, and the largest single buffer, for f16 / int8 / int4 weights and a 128 MiB
 * and a 32 MiB attention budget. The figures do not depend on the adapter: plan mode assumes WebGPU's default
 * buffer limits (128 MiB bindings), which every adapter grants, so the VAE decoder runs its large tensors on row
 * bands (engine/models/bands.ts) as it does on such an adapter; a buffer over 128 MiB would be reported as such.
 */
import type { GpuContext } from '../engine/gpu/context';
import type { StorageFormat } from '../engine/gpu/tensor';
import { WEBGPU_DEFAULT_LIMITS } from '../engine/gpu/plan-device';
import { planGeneration, type GenerationPlan } from '../engine/plan';
import { realModelFiles, type RealModel } from './real-configs';

const MIB = 2 ** 20;
const DEFAULT_BINDING = 128 * MIB;
const MODELS: readonly [RealModel, string][] = [
  ['sd15', 'SD 1.5'],
  ['sd21', 'SD 2.1'],
];
const FORMATS: readonly StorageFormat[] = ['f16', 'int8', 'int4'];
const BUDGETS = [128 * MIB, 32 * MIB];

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const largest = (plan: GenerationPlan) => plan.stages.reduce((a, s) => (s.largestBuffer > a.largestBuffer ? s : a));

export async function runPlanBench(_ctx: GpuContext, options: { filter?: string }): Promise<void> {
  console.log('\n## Plan mode: real models at 512×512 with guidance (no GPU work)\n');
  console.log(
    'Peaks are weights plus pooled intermediates; "stages" are the text / denoise / decode peaks with memory \'low\'. ' +
      'Buffer limits are WebGPU\'s defaults (128 MiB bindings): the VAE decoder runs its full-resolution up blocks on row bands.\n',
  );
  console.log("| model | weights | attention budget | dispatches per UNet eval | UNet weights | peak 'fast' | peak 'low' | stages ('low') | largest buffer |");
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
  for (const [model, name] of MODELS) {
    for (const format of FORMATS) {
      for (const budget of BUDGETS) {
        const row = `${name} ${format} ${budget / MIB} MiB`;
        if (options.filter && !row.toLowerCase().includes(options.filter.toLowerCase())) continue;
        const base = { width: 512, height: 512, guidance: true, format, attentionBudgetBytes: budget, limits: WEBGPU_DEFAULT_LIMITS };
        const fast = await planGeneration(realModelFiles(model), { ...base, memory: 'fast' });
        const low = await planGeneration(realModelFiles(model), { ...base, memory: 'low' });
        const big = largest(fast);
        const over = big.largestBuffer > DEFAULT_BINDING ? ` (over 128 MiB, ${big.stage})` : '';
        console.log(
          `| ${name} | ${format} | ${budget / MIB} MiB | ${fast.unetDispatches} | ${mb(fast.unetWeightBytes)} | ${mb(fast.peakBytes)} | ${mb(low.peakBytes)} | ` +
            `${low.stages.map((s) => mb(s.peakBytes).replace(' MB', '')).join(' / ')} MB | ${mb(big.largestBuffer)} ${big.largestBufferLabel}${over} |`,
        );
      }
    }
  }
  const sd15 = await planGeneration(realModelFiles('sd15'), { width: 512, height: 512, guidance: true, format: 'int8', memory: 'low', limits: WEBGPU_DEFAULT_LIMITS });
  console.log('\nSD 1.5 UNet evaluation (int8, 128 MiB budget), dispatches per op: ' + sd15.unetOps.map((o) => `${o.op} ${o.dispatches}`).join(', '));
  const unet = sd15.stages.find((s) => s.stage === 'denoise')!;
  console.log(`Largest buffer of the UNet stage: ${mb(unet.largestBuffer)} (${unet.largestBufferLabel}).`);
  const whole = await planGeneration(realModelFiles('sd15'), { width: 512, height: 512, guidance: true, format: 'int8', memory: 'low' });
  const decode = (plan: GenerationPlan) => {
    const d = plan.stages.find((s) => s.stage === 'decode')!;
    return `${d.dispatches} dispatches, peak ${mb(d.peakBytes)}, largest buffer ${mb(d.largestBuffer)} (${d.largestBufferLabel})`;
  };
  console.log(`SD 1.5 VAE decode (int8, memory 'low'): on row bands ${decode(sd15)}; whole, with a desktop GPU's 1 GiB bindings, ${decode(whole)}.`);
}
