import { describe, expect, it } from 'vitest';
import { realModelFiles } from '../../cli/real-configs';
import { WEBGPU_DEFAULT_LIMITS } from '../../engine/gpu/plan-device';
import { planGeneration } from '../../engine/plan';

// That a real generation holds exactly the planned bytes is checked where the pipeline tests already generate
// (tests/models/pipeline.test.ts, pipeline-features.test.ts): the plan costs no GPU work, a generation minutes.
describe('memory plan', () => {
  it('plans the real SD 1.5 model at 512×512 under WebGPU\'s default limits: intermediates reused, no buffer over 128 MiB, at most 1.6 GB', async () => {
    const base = { width: 512, height: 512, guidance: true, format: 'int8', limits: WEBGPU_DEFAULT_LIMITS } as const;
    const fast = await planGeneration(realModelFiles('sd15'), { ...base, memory: 'fast' });
    const low = await planGeneration(realModelFiles('sd15'), { ...base, memory: 'low' });
    const denoise = low.stages.find((s) => s.stage === 'denoise')!;
    // The VAE decoder's 512·512·256-float tensors (268 MB) run on row bands (engine/models/bands.ts).
    for (const s of [...fast.stages, ...low.stages]) expect(s.largestBuffer, s.stage).toBeLessThanOrEqual(128 * 2 ** 20);
    expect(low.peakBytes).toBeLessThanOrEqual(1.6e9);
    // Two UNet evaluations ran: the second allocated nothing, so the stage holds weights plus one evaluation's live set.
    expect(denoise.peakBytes - low.unetWeightBytes).toBeLessThan(400e6);
    expect(low.peakBytes).toBeLessThan(fast.peakBytes);
    expect(low.unetOps.reduce((n, o) => n + o.dispatches, 0)).toBe(low.unetDispatches);
  });
});
