/**
 * FSDP's overlap structure as a two-resource timeline: the compute thread and one comm stream
 * that runs collectives strictly in issue order (the engine's comm worker, like an NCCL stream).
 * The schedule is the trainer's (engine/parallel/fsdp-trainer.ts):
 *   forward   issue gather(k+1), wait gather(k), compute unit k        (prefetch one ahead)
 *   backward  issue gather(k-1), wait gather(k), compute unit k, issue reduce(k)  (no wait)
 *   tail      wait every reduction, optimizer step
 * Exposed communication is the compute thread's waiting: whatever of the comm stream does not
 * fit behind compute. The last unit's reduction and the optimizer are never hidden.
 *
 * A unit's decode (`decodeMs`) is a continuation of its reduction on the compute thread: it can
 * only run once the reduction is done and the thread yields, which it does only at a wait (a
 * backward gather it needs, or the tail). At a wait the thread first runs the decodes of every
 * reduction that finished before the awaited collective, in completion order; the rest wait for
 * the next yield. The engine's metrics count that work as exposed time (the thread is inside a
 * wait), so it is kept apart from compute in the result too.
 *
 * Rank skew (`skewPerSqrtMs`): ranks that share cores do not compute in lock-step, and every wait
 * is a meeting point (a gather needs every rank's shard, a reduction every rank's gradient), so a
 * step runs at the slowest rank of each stretch of compute between waits, not at the slowest
 * rank's total. With noise that grows like the square root of a stretch's length, a stretch of
 * d ms costs skewPerSqrtMs * sqrt(d) beyond the ranks' mean, charged (as waiting) at the wait
 * that ends it; a wait on communication still in flight absorbs it.
 */
import type { ProjectedStep } from '../run/projection-types.js';

/**
 * The skew coefficient from a measured spread: the slowest rank `spreadMs` ahead of the ranks'
 * mean after `computeMs` of compute, with noise growing like the square root of the time.
 */
export const skewPerSqrtMs = (spreadMs: number, computeMs: number): number =>
  computeMs > 0 && spreadMs > 0 ? spreadMs / Math.sqrt(computeMs) : 0;

export interface TimedUnit {
  forwardMs: number;
  /** Backward compute plus the unit's encode (both on the compute thread, before its reduction). */
  backwardMs: number;
  /** Durations on the comm stream; undefined: nothing to gather (parameters are local or kept). */
  forwardGatherMs?: number;
  backwardGatherMs?: number;
  reduceMs: number;
  /** Compute-thread work after the reduction completes (decode); 0 when absent. */
  decodeMs?: number;
}

export function simulateStep(
  units: TimedUnit[],
  tailCommMs: number,
  optimizerMs: number,
  skewPerSqrtMs = 0,
): ProjectedStep {
  const U = units.length;
  let commFree = 0;
  let commBusy = 0;
  /** Compute since the last wait, and the time the slowest rank ends that stretch. */
  let stretch = 0;
  let stretchEnd = 0;
  /**
   * Puts an op on the comm stream at time `t` (a collective starts once the slowest rank has
   * issued it too); returns when it finishes.
   */
  const issue = (t: number, ms: number): number => {
    const start = Math.max(t, stretchEnd, commFree);
    commFree = start + ms;
    commBusy += ms;
    return commFree;
  };
  let t = 0;
  let compute = 0;
  const run = (ms: number): void => {
    t += ms;
    compute += ms;
    stretch += ms;
    stretchEnd = t + skewPerSqrtMs * Math.sqrt(stretch);
  };
  /** At a wait: the meeting point cannot pass before the slowest rank gets there. */
  const meet = (): void => {
    t = Math.max(t, stretchEnd);
    stretch = 0;
  };
  /** Decodes whose reductions are in flight or done: when each reduction ends, its decode's cost. */
  const pending: { doneAt: number; ms: number }[] = [];
  /** The thread waits until `until`, running the decodes of reductions finished by then. */
  const waitUntil = (until: number): void => {
    meet();
    pending.sort((a, b) => a.doneAt - b.doneAt);
    while (pending.length && pending[0].doneAt <= until) {
      const d = pending.shift()!;
      t = Math.max(t, d.doneAt) + d.ms;
    }
    t = Math.max(t, until);
  };
  const gatherDone: number[] = new Array(U).fill(0);
  const fwd = (k: number): void => {
    const ms = units[k].forwardGatherMs;
    gatherDone[k] = ms === undefined ? t : issue(t, ms);
  };
  fwd(0);
  for (let k = 0; k < U; k++) {
    if (k + 1 < U) fwd(k + 1);
    if (units[k].forwardGatherMs !== undefined) meet();
    t = Math.max(t, gatherDone[k]);
    run(units[k].forwardMs);
  }
  const regather = (k: number): void => {
    const ms = units[k].backwardGatherMs;
    gatherDone[k] = ms === undefined ? -1 : issue(t, ms);
  };
  gatherDone[U - 1] = -1; // kept from forward
  for (let k = U - 1; k >= 0; k--) {
    if (k - 1 >= 0) regather(k - 1);
    // Only a unit whose parameters were freed makes the thread wait (and so yield).
    if (gatherDone[k] >= 0) waitUntil(gatherDone[k]);
    run(units[k].backwardMs);
    const reduced = issue(t, units[k].reduceMs);
    pending.push({ doneAt: reduced, ms: units[k].decodeMs ?? 0 });
  }
  const backwardEnd = t;
  const decodeMs = units.reduce((a, u) => a + (u.decodeMs ?? 0), 0);
  waitUntil(Math.max(...pending.map((d) => d.doneAt), t));
  if (tailCommMs > 0) t = issue(t, tailCommMs);
  run(optimizerMs);
  return {
    stepMs: t,
    computeMs: compute,
    exposedCommMs: t - compute,
    commMs: commBusy,
    tailMs: t - backwardEnd,
    ...(decodeMs > 0 ? { decodeMs } : {}),
  };
}
