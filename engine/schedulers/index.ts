/**
 * Diffusion schedulers reproducing diffusers' classes (pure CPU math on Float32Array latents):
 *
 * | name      | diffusers class                                        |
 * | --------- | ------------------------------------------------------ |
 * | 'ddim'    | DDIMScheduler                                          |
 * | 'euler'   | EulerDiscreteScheduler                                 |
 * | 'euler-a' | EulerAncestralDiscreteScheduler                        |
 * | 'dpm++2m' | DPMSolverMultistepScheduler (dpmsolver++, order 2)     |
 * | 'pndm'    | PNDMScheduler (PLMS when skip_prk_steps, as SD ships)  |
 * | 'lcm'     | LCMScheduler                                           |
 *
 * `createScheduler(name, config)` is `Class.from_config(config)`: a model folder's scheduler_config.json (whatever
 * class it was written for) supplies the keys the chosen class accepts, the class defaults fill in the rest.
 */
import { DdimScheduler } from './ddim';
import { DpmSolverMultistepScheduler } from './dpmpp-2m';
import { SchedulerConfigError } from './errors';
import { EulerScheduler } from './euler';
import { EulerAncestralScheduler } from './euler-ancestral';
import { LcmScheduler } from './lcm';
import { PndmScheduler } from './pndm';
import { SCHEDULER_NAMES, type Scheduler, type SchedulerConfig, type SchedulerName, type SchedulerOptions } from './types';

export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

export function createScheduler(name: SchedulerName, config: SchedulerConfig = {}, options: SchedulerOptions = {}): Scheduler {
  if (!isSchedulerName(name)) {
    throw new SchedulerConfigError(`Unknown scheduler "${name}"; use one of ${SCHEDULER_NAMES.join(', ')}.`);
  }
  if (options.karras !== undefined && name !== 'dpm++2m' && name !== 'euler') {
    throw new SchedulerConfigError(`Karras sigmas are available for dpm++2m and euler, not ${name}.`);
  }
  if (options.eta !== undefined && name !== 'ddim') {
    throw new SchedulerConfigError(`eta applies to the ddim scheduler only, not ${name}.`);
  }
  switch (name) {
    case 'ddim':
      return new DdimScheduler(config, options.eta);
    case 'euler':
      return new EulerScheduler(config, options);
    case 'euler-a':
      return new EulerAncestralScheduler(config);
    case 'dpm++2m':
      return new DpmSolverMultistepScheduler(config, options);
    case 'pndm':
      return new PndmScheduler(config);
    case 'lcm':
      return new LcmScheduler(config);
  }
}

export { DdimScheduler, DpmSolverMultistepScheduler, EulerAncestralScheduler, EulerScheduler, LcmScheduler, PndmScheduler };
export { SchedulerConfigError, SchedulerStateError } from './errors';
export { createGenerator, SeededNormalGenerator } from './random';
export type { NoiseSchedule } from './schedule';
export * from './types';
