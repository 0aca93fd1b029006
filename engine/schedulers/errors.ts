import { EngineError } from '../gpu/errors';

/** A scheduler config value or option that is invalid, or that selects a method this engine does not implement. */
export class SchedulerConfigError extends EngineError {}

/** A scheduler called out of order: `step` before `setTimesteps`, with a timestep not next in the run, or past its end. */
export class SchedulerStateError extends EngineError {}
