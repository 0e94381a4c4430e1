/** A profile's numerical-health settings (checked every step by engine/parallel/health.ts). */
export interface HealthOptions {
  /** A loss above this factor times the running mean is a spike. */
  spikeFactor: number;
  /** How many recent finite losses of a rank the running mean covers. */
  window: number;
  /** End the run, failed, at the first warning. */
  stopOnError: boolean;
}

export const HEALTH_DEFAULTS: HealthOptions = { spikeFactor: 3, window: 20, stopOnError: false };
