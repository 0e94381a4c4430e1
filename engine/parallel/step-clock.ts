/**
 * A training step's timing figures, the same for every trainer: the wall clock of the step, the
 * part the compute thread waited for communication (exposed), the rest (compute), and the time the
 * comm worker spent in collectives over the step, overlapped or not.
 */
import type { Comm } from '../comm/comm-types.js';

export interface StepTimes {
  stepMs: number;
  computeMs: number;
  exposedCommMs: number;
  commMs: number;
}

/** Started at the top of a step; `stop` at its end gives the step's times. */
export class StepClock {
  private readonly t0 = performance.now();
  private readonly busy0: number;

  constructor(private readonly comm: Pick<Comm, 'stats'>) {
    this.busy0 = comm.stats.busyMs;
  }

  /** The step's times, given how long the compute thread waited for communication in it. */
  stop(exposedMs: number): StepTimes {
    const stepMs = performance.now() - this.t0;
    return {
      stepMs,
      computeMs: stepMs - exposedMs,
      exposedCommMs: exposedMs,
      commMs: this.comm.stats.busyMs - this.busy0,
    };
  }
}
