/**
 * The engine's scheduler names as people know them: the sampler names AUTOMATIC1111 shows and writes into its PNG
 * `parameters` (`Sampler: Euler a`), so images from this extension read back the same in other Stable Diffusion tools.
 */
import type { SchedulerName } from '../engine/schedulers/types';

export const SAMPLER_LABELS: Record<SchedulerName, string> = {
  ddim: 'DDIM',
  euler: 'Euler',
  'euler-a': 'Euler a',
  'dpm++2m': 'DPM++ 2M',
  // diffusers' PNDMScheduler as SD ships it (skip_prk_steps) is PLMS.
  pndm: 'PLMS',
  lcm: 'LCM',
};
