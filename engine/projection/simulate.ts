/**
 * FSDP's overlap structure as a two-resource timeline: the compute thread and one comm stream
 * that runs collectives strictly in issue order (the engine's comm worker, like an NCCL stream).
 * The schedule is the trainer's (engine/parallel/fsdp-trainer.ts):
 *   forward   issue gather(k+1), wait gather(k), compute unit k        (prefetch one ahead)
 *   backward  issue gather(k-1), wait gather(k), compute unit k, issue reduce(k)  (no wait)
 *   tail      wait every reduction, optimizer step
 * Exposed communication is the compute thread's waiting: whatever of the comm stream does not
 * fit behind compute. The last unit's reduction and the optimizer are never hidden.
 */
import type { ProjectedStep } from './types.js';

export interface TimedUnit {
  forwardMs: number;
  /** Backward compute plus the unit's encode/decode (both on the compute thread). */
  backwardMs: number;
  /** Durations on the comm stream; undefined: nothing to gather (parameters are local or kept). */
  forwardGatherMs?: number;
  backwardGatherMs?: number;
  reduceMs: number;
}

export function simulateStep(
  units: TimedUnit[],
  tailCommMs: number,
  optimizerMs: number,
): ProjectedStep {
  const U = units.length;
  let commFree = 0;
  let commBusy = 0;
  /** Puts an op on the comm stream at time `t`; returns when it finishes. */
  const issue = (t: number, ms: number): number => {
    const start = Math.max(t, commFree);
    commFree = start + ms;
    commBusy += ms;
    return commFree;
  };
  let t = 0;
  let compute = 0;
  const run = (ms: number): void => {
    t += ms;
    compute += ms;
  };
  const gatherDone: number[] = new Array(U).fill(0);
  const fwd = (k: number): void => {
    const ms = units[k].forwardGatherMs;
    gatherDone[k] = ms === undefined ? t : issue(t, ms);
  };
  fwd(0);
  for (let k = 0; k < U; k++) {
    if (k + 1 < U) fwd(k + 1);
    t = Math.max(t, gatherDone[k]);
    run(units[k].forwardMs);
  }
  const regather = (k: number): void => {
    const ms = units[k].backwardGatherMs;
    gatherDone[k] = ms === undefined ? 0 : issue(t, ms);
  };
  let reduced = t;
  for (let k = U - 1; k >= 0; k--) {
    if (k === U - 1) gatherDone[k] = 0; // kept from forward
    if (k - 1 >= 0) regather(k - 1);
    t = Math.max(t, gatherDone[k]);
    run(units[k].backwardMs);
    reduced = issue(t, units[k].reduceMs);
  }
  const backwardEnd = t;
  t = Math.max(t, reduced);
  if (tailCommMs > 0) t = issue(t, tailCommMs);
  run(optimizerMs);
  return {
    stepMs: t,
    computeMs: compute,
    exposedCommMs: t - compute,
    commMs: commBusy,
    tailMs: t - backwardEnd,
  };
}
