/**
 * The offscreen document: the one place that holds the GPU device. It answers the requests the background forwards
 * to it and keeps one GpuContext across them, acquiring a new one only after the device is lost.
 */
import { adapterName } from '../../engine/gpu/device';
import { GpuContext } from '../../engine/gpu/context';
import { add } from '../../engine/ops/elementwise';
import * as ref from '../../engine/ref/elementwise';
import { resultResponse, type EngineStatus } from '../../lib/messages';
import { serve } from '../../lib/messaging';

// One f32 addition per element, correctly rounded on both sides: anything above f32 epsilon is a broken kernel.
const SELF_CHECK_TOLERANCE = 1e-6;

let context: Promise<GpuContext> | undefined;

function engine(): Promise<GpuContext> {
  if (!context) {
    const created = GpuContext.create(navigator.gpu);
    const forget = () => {
      if (context === created) context = undefined;
    };
    // A failed start or a lost device is retried on the next request rather than cached.
    created.then((ctx) => ctx.lost.then(forget), forget);
    context = created;
  }
  return context;
}

/** Adds two short vectors on the GPU (seven values: not a multiple of the kernel's four per thread) and compares. */
async function selfCheck(ctx: GpuContext): Promise<EngineStatus['selfCheck']> {
  const a = Float32Array.from([1.5, -2, 3.25, 0, 7e5, -0.125, 1e-3]);
  const b = Float32Array.from([0.5, 4, -1.25, 2, -7, 0.375, 3e-3]);
  const ta = ctx.upload(a, [a.length], 'self-check a');
  const tb = ctx.upload(b, [b.length], 'self-check b');
  const sum = add(ctx, ta, tb);
  try {
    const gpu = await ctx.read(sum);
    const cpu = ref.add(a, b);
    const maxCpu = Math.max(...cpu.map(Math.abs));
    const error = Math.max(...cpu.map((v, i) => Math.abs(gpu[i]! - v))) / maxCpu;
    // NaN and infinity do not survive JSON; they fail the check either way.
    return Number.isFinite(error) ? { passed: error <= SELF_CHECK_TOLERANCE, relativeError: error } : { passed: false, relativeError: null };
  } finally {
    ctx.release(ta, tb, sum);
  }
}

serve('offscreen', async (request) => {
  switch (request.type) {
    case 'engine-status': {
      const ctx = await engine();
      return resultResponse(request, { adapter: ctx.adapter, adapterName: adapterName(ctx.adapter), selfCheck: await selfCheck(ctx) });
    }
  }
});
