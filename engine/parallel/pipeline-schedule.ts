/**
 * The 1F1B pipeline schedule (PipeDream-Flush / Megatron's non-interleaved schedule) and its
 * critical path.
 *
 * Stage s of S runs min(S - 1 - s, M) warm-up forwards, then alternates one forward and one
 * backward, then drains the remaining backwards; so at most S - s micro-batches are in flight on
 * stage s (activation memory bounded by the depth, not by M).
 *
 * The critical path is computed on the schedule's dependency graph: compute ops in each stage's
 * order, a forward waits for the previous stage's activation, a backward for the next stage's
 * activation gradient, each transfer taking time. Earliest times come from a list simulation,
 * latest times from the reverse pass; a transfer whose slack is zero lies on a longest path, so
 * making it faster shortens the step. Optimus-CC's selective compression compresses exactly
 * those and leaves the transfers that overlap with compute exact.
 */

export type PipeOpKind = 'F' | 'B';

export interface PipeOp {
  kind: PipeOpKind;
  /** Micro-batch index. */
  mb: number;
}

/** The ops stage `stage` runs, in order. */
export function oneFOneB(stages: number, microBatches: number, stage: number): PipeOp[] {
  if (!Number.isInteger(stages) || stages < 1)
    throw new Error(`stages must be >= 1, got ${stages}`);
  if (!Number.isInteger(microBatches) || microBatches < 1)
    throw new Error(`microBatches must be >= 1, got ${microBatches}`);
  if (!Number.isInteger(stage) || stage < 0 || stage >= stages)
    throw new Error(`stage must be in 0..${stages - 1}, got ${stage}`);
  const warmup = Math.min(stages - 1 - stage, microBatches);
  const ops: PipeOp[] = [];
  for (let i = 0; i < warmup; i++) ops.push({ kind: 'F', mb: i });
  for (let i = 0; i < microBatches - warmup; i++) {
    ops.push({ kind: 'F', mb: warmup + i });
    ops.push({ kind: 'B', mb: i });
  }
  for (let i = microBatches - warmup; i < microBatches; i++) ops.push({ kind: 'B', mb: i });
  return ops;
}

export interface ScheduleCosts {
  /** Compute time of one micro-batch's forward / backward, per stage. */
  forwardMs: number[];
  backwardMs: number[];
  /** Time one activation (forward) / activation gradient (backward) takes between adjacent stages. */
  activationMs: number;
  gradientMs: number;
  /** Extra time of one activation-gradient transfer (what-if analysis of a single transfer). */
  extraGradientMs?: (t: Transfer) => number;
}

export interface TimedOp extends PipeOp {
  stage: number;
  start: number;
  end: number;
  /** The latest start that does not lengthen the step. */
  latestStart: number;
}

/** A transfer between stage `boundary` and `boundary + 1` of micro-batch `mb`. */
export interface Transfer {
  boundary: number;
  mb: number;
}

export interface ScheduleAnalysis {
  makespan: number;
  /** Per stage, in schedule order. */
  ops: TimedOp[][];
  /** Activation-gradient transfers (stage boundary + 1 to boundary) on the critical path. */
  criticalGradients: Transfer[];
  /** Activation transfers (stage boundary to boundary + 1) on the critical path. */
  criticalActivations: Transfer[];
  /** Per stage: idle time within the step (makespan minus compute). */
  bubbleMs: number[];
}

const key = (t: Transfer): string => `${t.boundary}:${t.mb}`;

export function analyzeSchedule(
  stages: number,
  microBatches: number,
  costs: ScheduleCosts,
): ScheduleAnalysis {
  const S = stages;
  for (const [name, v] of [
    ['forwardMs', costs.forwardMs],
    ['backwardMs', costs.backwardMs],
  ] as const) {
    if (v.length !== S || v.some((x) => !(x > 0)))
      throw new Error(`${name} needs ${S} positive per-stage costs, got [${v.join(', ')}]`);
  }
  const plans = Array.from({ length: S }, (_, s) => oneFOneB(S, microBatches, s));
  const ops: TimedOp[][] = plans.map((p, s) =>
    p.map((o) => ({ ...o, stage: s, start: NaN, end: NaN, latestStart: NaN })),
  );
  const find = (s: number, kind: PipeOpKind, mb: number): TimedOp =>
    ops[s].find((o) => o.kind === kind && o.mb === mb)!;
  /** The cross-stage predecessor of an op and the transfer time on that edge. */
  const pred = (o: TimedOp): { op: TimedOp; delay: number } | undefined => {
    if (o.kind === 'F' && o.stage > 0)
      return { op: find(o.stage - 1, 'F', o.mb), delay: costs.activationMs };
    if (o.kind === 'B' && o.stage < S - 1)
      return {
        op: find(o.stage + 1, 'B', o.mb),
        delay: costs.gradientMs + (costs.extraGradientMs?.({ boundary: o.stage, mb: o.mb }) ?? 0),
      };
    return undefined;
  };
  const duration = (o: TimedOp): number =>
    o.kind === 'F' ? costs.forwardMs[o.stage] : costs.backwardMs[o.stage];

  // Earliest times: run each stage's next op as soon as it and its input are ready.
  const next = new Array<number>(S).fill(0);
  const free = new Array<number>(S).fill(0);
  const order: TimedOp[] = [];
  for (let progress = true; progress;) {
    progress = false;
    for (let s = 0; s < S; s++) {
      while (next[s] < ops[s].length) {
        const o = ops[s][next[s]];
        const p = pred(o);
        if (p && Number.isNaN(p.op.end)) break;
        o.start = Math.max(free[s], p ? p.op.end + p.delay : 0);
        o.end = o.start + duration(o);
        free[s] = o.end;
        next[s]++;
        order.push(o);
        progress = true;
      }
    }
  }
  if (order.length !== ops.reduce((a, o) => a + o.length, 0))
    throw new Error('1F1B schedule deadlocked (a bug: every op should become ready)');
  const makespan = Math.max(...free);

  // Latest times, in reverse topological order (sorted by earliest end: every edge goes forward).
  const succ = new Map<TimedOp, { op: TimedOp; delay: number }[]>();
  for (const o of order) {
    const p = pred(o);
    if (p) succ.set(p.op, [...(succ.get(p.op) ?? []), { op: o, delay: p.delay }]);
  }
  const byEnd = [...order].sort((a, b) => b.end - a.end || b.start - a.start);
  for (const o of byEnd) {
    const i = ops[o.stage].indexOf(o);
    let latestEnd = makespan;
    if (i + 1 < ops[o.stage].length)
      latestEnd = Math.min(latestEnd, ops[o.stage][i + 1].latestStart);
    for (const e of succ.get(o) ?? []) latestEnd = Math.min(latestEnd, e.op.latestStart - e.delay);
    o.latestStart = latestEnd - duration(o);
  }

  const eps = 1e-9 * Math.max(1, makespan);
  const criticalGradients: Transfer[] = [];
  const criticalActivations: Transfer[] = [];
  for (const o of order) {
    const p = pred(o);
    if (!p || o.latestStart - (p.op.end + p.delay) > eps) continue;
    // Zero slack on the edge, and the receiver really waited for it (the edge binds).
    if (o.kind === 'F') criticalActivations.push({ boundary: o.stage - 1, mb: o.mb });
    else criticalGradients.push({ boundary: o.stage, mb: o.mb });
  }
  const sortT = (a: Transfer, b: Transfer): number => a.boundary - b.boundary || a.mb - b.mb;
  criticalGradients.sort(sortT);
  criticalActivations.sort(sortT);
  const bubbleMs = ops.map((st) => makespan - st.reduce((a, o) => a + duration(o), 0));
  return { makespan, ops, criticalGradients, criticalActivations, bubbleMs };
}

/** The set of (boundary, micro-batch) gradient transfers to compress, as lookup keys. */
export function criticalGradientSet(a: ScheduleAnalysis): Set<string> {
  return new Set(a.criticalGradients.map(key));
}

export const transferKey = key;
