/**
 * FSDP's overlap structure as a timeline of the compute thread, two comm streams and one link.
 * The schedule is the trainer's (engine/parallel/fsdp-trainer.ts):
 *   forward   issue gather(k+1), wait gather(k), compute unit k        (prefetch one ahead)
 *   backward  issue gather(k-1), wait gather(k), compute unit k, issue reduce(k)  (no wait)
 *   tail      wait every reduction, the gradient-norm all-reduce, optimizer step
 * Gathers run on the parameter stream, reductions on the gradient stream (ordered-stream.ts). A
 * stream hands its next collective to the comm worker only once the previous one has settled,
 * and a collective settles only when the compute thread, which owns the streams, takes its
 * completion: at a wait, never in the middle of compute. What the streams hand over shares one
 * link, first come first served (the emulated NIC is one queue). Exposed communication is the
 * compute thread's waiting. The last unit's reduction and the optimizer are never hidden.
 *
 * A unit's decode (`decodeMs`) is the continuation of its reduction on the compute thread: it
 * runs when the thread takes the reduction's completion, and the gradient stream's next
 * collective waits for it. At a wait the thread takes completions in the order they happen
 * until the awaited collective's; the engine's metrics count that work as exposed time (the
 * thread is inside a wait), so it is kept apart from compute in the result too.
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

/** One collective on a stream: its link time and the compute-thread work that follows it. */
interface Op {
  ms: number;
  decodeMs: number;
  doneAt?: number;
  settled: boolean;
}

/** A comm stream: at most one collective in flight, the rest held in issue order. */
interface Stream {
  inFlight?: Op;
  held: Op[];
}

export function simulateStep(
  units: TimedUnit[],
  tailCommMs: number,
  optimizerMs: number,
  skewPerSqrtMs = 0,
): ProjectedStep {
  const U = units.length;
  const params: Stream = { held: [] };
  const grads: Stream = { held: [] };
  let linkFree = 0;
  let commBusy = 0;
  let decodeTotal = 0;
  /** Compute since the last wait, and the time the slowest rank ends that stretch. */
  let stretch = 0;
  let stretchEnd = 0;
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
  /** The stream hands `op` to the link at `at` (a collective starts once the slowest rank has too). */
  const handOver = (s: Stream, op: Op, at: number): void => {
    const start = Math.max(at, stretchEnd, linkFree);
    linkFree = start + op.ms;
    commBusy += op.ms;
    op.doneAt = linkFree;
    s.inFlight = op;
  };
  const issue = (s: Stream, ms: number, decodeMs = 0): Op => {
    const op: Op = { ms, decodeMs, settled: false };
    if (!s.inFlight && s.held.length === 0) handOver(s, op, t);
    else s.held.push(op);
    return op;
  };
  /** The thread takes the earliest completion still untaken: its decode, then the stream's next op. */
  const takeNext = (): void => {
    const s = [params, grads]
      .filter((x) => x.inFlight)
      .sort((a, b) => a.inFlight!.doneAt! - b.inFlight!.doneAt!)[0];
    if (!s) throw new Error('simulateStep: waiting with nothing in flight');
    const op = s.inFlight!;
    t = Math.max(t, op.doneAt!) + op.decodeMs;
    decodeTotal += op.decodeMs;
    op.settled = true;
    s.inFlight = undefined;
    const next = s.held.shift();
    if (next) handOver(s, next, t);
  };
  const waitFor = (done: () => boolean): void => {
    meet();
    while (!done()) takeNext();
  };

  const gathers: (Op | undefined)[] = new Array(U);
  const fwd = (k: number): void => {
    const ms = units[k].forwardGatherMs;
    gathers[k] = ms === undefined ? undefined : issue(params, ms);
  };
  fwd(0);
  for (let k = 0; k < U; k++) {
    if (k + 1 < U) fwd(k + 1);
    const g = gathers[k];
    if (g) waitFor(() => g.settled);
    run(units[k].forwardMs);
  }
  gathers.fill(undefined); // the last unit is kept from forward
  const reductions: Op[] = [];
  for (let k = U - 1; k >= 0; k--) {
    const ms = k - 1 >= 0 ? units[k - 1].backwardGatherMs : undefined;
    if (ms !== undefined) gathers[k - 1] = issue(params, ms);
    // Only a unit whose parameters were freed makes the thread wait (and so yield).
    const g = gathers[k];
    if (g) waitFor(() => g.settled);
    run(units[k].backwardMs);
    reductions.push(issue(grads, units[k].reduceMs, units[k].decodeMs ?? 0));
  }
  const backwardEnd = t;
  waitFor(() => reductions.every((r) => r.settled));
  if (tailCommMs > 0) {
    const norm = issue(grads, tailCommMs);
    waitFor(() => norm.settled);
  }
  run(optimizerMs);
  return {
    stepMs: t,
    computeMs: compute,
    exposedCommMs: t - compute,
    commMs: commBusy,
    tailMs: t - backwardEnd,
    ...(decodeTotal > 0 ? { decodeMs: decodeTotal } : {}),
  };
}
