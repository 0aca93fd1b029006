import { describe, expect, it } from 'vitest';
import { realModelFiles } from '../../cli/real-configs';
import { planGeneration } from '../../engine/plan';

// That a real generation holds exactly the planned bytes is checked where the pipeline tests already generate
// (tests/models/pipeline.test.ts, pipeline-features.test.ts): the plan costs no GPU work, a generation minutes.
describe('memory plan', () => {
  it('plans the real SD 1.5 model at 512×512: intermediates reused, no UNet buffer over 128 MiB', async () => {
    const base = { width: 512, height: 512, guidance: true, format: 'int8' } as const;
    const fast = await planGeneration(realModelFiles('sd15'), { ...base, memory: 'fast' });
    const low = await planGeneration(realModelFiles('sd15'), { ...base, memory: 'low' });
    const denoise = low.stages.find((s) => s.stage === 'denoise')!;
    expect(denoise.largestBuffer).toBeLessThanOrEqual(128 * 2 ** 20);
    // Two UNet evaluations ran: the second allocated nothing, so the stage holds weights plus one evaluation's live set.
    expect(denoise.peakBytes - low.unetWeightBytes).toBeLessThan(400e6);
    expect(low.peakBytes).toBeLessThan(fast.peakBytes);
    expect(low.unetOps.reduce((n, o) => n + o.dispatches, 0)).toBe(low.unetDispatches);
  });
});
