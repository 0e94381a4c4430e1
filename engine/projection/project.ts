/**
 * The projection: a measured method's profile on a cluster -> predicted step time, exposed
 * communication and speedup against the fp32 and bf16-reduce FSDP baselines on the same cluster.
 *
 * Compute: with a GPU on the cluster, each unit's FLOPs over (TFLOP/s x efficiency); without one,
 * over the measured box's own rate (FLOPs of the measured units / their measured compute), so the
 * run's per-unit compute is kept as is. Coding and optimizer time scale by the same rate ratio.
 * Bytes: from the (possibly resized) model, the method's measured wire ratio per unit.
 */
import { collectiveMs, type Links } from './cost.js';
import {
  BACKWARD_FLOPS_FACTOR,
  forwardFlops,
  groupShapes,
  unitCollectives,
  unitShapes,
  type Layout,
} from './fsdp-plan.js';
import { simulateStep, type TimedUnit } from './simulate.js';
import type {
  ClusterSpec,
  CollectiveCall,
  MethodProfile,
  MethodProjection,
  ProjectedStep,
  UnitProfile,
} from '../run/projection-types.js';

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** FLOPs per millisecond the measured box reached on this method's unit compute. */
export function boxFlopsPerMs(p: MethodProfile): number {
  const flops = sum(p.units.map((u) => u.forwardFlops + u.backwardFlops));
  const ms = sum(p.units.map((u) => u.forwardMs + u.backwardMs));
  return ms > 0 ? flops / ms : Infinity;
}

/** The layout a projection runs: the cluster's ranks, else the measured run's. */
export function targetLayout(p: MethodProfile, c: ClusterSpec | undefined): Layout {
  if (!c) return { world: p.world, nodes: p.nodes, sharding: p.sharding };
  let sharding = c.sharding ?? p.sharding;
  // HYBRID_SHARD needs several nodes of several GPUs; elsewhere it degenerates to FULL_SHARD.
  if (sharding === 'HYBRID_SHARD' && (c.nodes < 2 || c.gpusPerNode < 2)) sharding = 'FULL_SHARD';
  return { world: c.nodes * c.gpusPerNode, nodes: c.nodes, sharding };
}

/** Unit compute (ms) and collectives of `p` resized and re-timed for cluster `c`. */
export function scaleUnits(p: MethodProfile, c: ClusterSpec | undefined): UnitProfile[] {
  const model = c?.model ?? p.model;
  const batch = c?.batchPerGpu ?? p.batchPerRank;
  const layout = targetLayout(p, c);
  const box = boxFlopsPerMs(p);
  const rate = c?.gpu ? c.gpu.tflops * c.gpu.efficiency * 1e9 : box;
  const oneHot = !c?.gpu;
  const tokens = batch * model.seqLen;
  const perParam = (f: (u: UnitProfile) => number): number =>
    sum(p.units.map(f)) / Math.max(1, sum(p.units.map((u) => u.numel)));
  const codecPerParam = perParam((u) => u.codecMs);
  const decodePerParam = perParam((u) => u.decodeMs ?? 0);
  const shapes = unitShapes(model);
  // Which rank sends most follows from where the shard boundaries cut the model: the same only
  // for the same model on as many ranks.
  const slowest = layout.world === p.world && !c?.model ? p.sendImbalance : undefined;
  return shapes.map((s, index) => {
    const f = forwardFlops(s.kind, model, tokens, oneHot);
    const b = BACKWARD_FLOPS_FACTOR * f;
    const calls = unitCollectives(
      layout,
      { numel: s.numel, index, count: shapes.length, tied: model.tied },
      p.pattern,
      p.payloadRatio,
      p.paramRatio,
      p.hpz,
      slowest,
    );
    return {
      name: s.name,
      kind: s.kind,
      numel: s.numel,
      forwardFlops: f,
      backwardFlops: b,
      forwardMs: f / rate,
      backwardMs: b / rate,
      codecMs: (codecPerParam * s.numel * box) / rate,
      ...(decodePerParam > 0 ? { decodeMs: (decodePerParam * s.numel * box) / rate } : {}),
      ...calls,
    };
  });
}

/** Links of a cluster (or of the measured run when `c` describes it). */
const linksOf = (c: ClusterSpec): Links => ({
  intra: c.intra,
  inter: c.inter,
  sharedNic: c.sharedNic,
});

/**
 * Whether `c` is the measured run's own hardware and layout (only its links may differ): then the
 * measured units and their collectives are used exactly as the profile gives them.
 */
export function sameLayout(p: MethodProfile, c: ClusterSpec): boolean {
  const t = targetLayout(p, c);
  return (
    !c.gpu &&
    !c.model &&
    (c.batchPerGpu ?? p.batchPerRank) === p.batchPerRank &&
    t.world === p.world &&
    t.nodes === p.nodes &&
    t.sharding === p.sharding
  );
}

/** Predicted step of one method on cluster `c`. */
export function projectStep(p: MethodProfile, c: ClusterSpec): ProjectedStep {
  const resize = !sameLayout(p, c);
  const layout = targetLayout(p, c);
  const groups = groupShapes(layout);
  const links = linksOf(c);
  const units = resize ? scaleUnits(p, c) : p.units;
  const time = (call: CollectiveCall | undefined): number | undefined =>
    call ? collectiveMs(call, groups[call.group], links) : undefined;
  const timed: TimedUnit[] = units.map((u) => ({
    forwardMs: u.forwardMs,
    backwardMs: u.backwardMs + u.codecMs,
    forwardGatherMs: time(u.forwardGather),
    backwardGatherMs: time(u.backwardGather),
    reduceMs: sum(u.reduce.map((r) => time(r)!)),
    decodeMs: u.decodeMs ?? 0,
  }));
  const shard = groups.shard;
  // After the reductions: one all-reduce over the world of every rank's loss and per-unit
  // squared gradient sums (gradient norm and health check), one f32 slot each.
  const world = groups.world;
  const normBytes = world.size * (units.length + 1) * 4;
  const normMs =
    world.size > 1
      ? collectiveMs({ op: 'all-reduce', group: 'world', bytes: normBytes }, world, links)
      : 0;
  const box = boxFlopsPerMs(p);
  const rate = resize && c.gpu ? c.gpu.tflops * c.gpu.efficiency * 1e9 : box;
  const measuredShard = sum(p.units.map((u) => u.numel)) / groupShapes(p).shard.size;
  const targetShard = sum(units.map((u) => u.numel)) / shard.size;
  const optimizerMs = (p.optimizerMs * (targetShard / measuredShard) * box) / rate;
  // Skew is how this box's ranks share its cores: it does not carry over to GPUs.
  const skew = resize && c.gpu ? 0 : (p.skewPerSqrtMs ?? 0);
  return simulateStep(timed, normMs, optimizerMs, skew);
}

/** A bf16-reduce FSDP baseline derived from the fp32 one (bf16 payloads, coding cost assumed free). */
export function bf16FromFsdp(fsdp: MethodProfile): MethodProfile {
  return {
    ...fsdp,
    method: 'bf16',
    id: 'bf16',
    label: 'bf16 reduce (derived)',
    pattern: 'reduce-scatter',
    payloadRatio: 0.5,
    wireRatio: 0.5,
    units: fsdp.units.map((u, index) => ({
      ...u,
      codecMs: 0,
      decodeMs: 0,
      ...unitCollectives(
        fsdp,
        { numel: u.numel, index, count: fsdp.units.length, tied: fsdp.model.tied },
        'reduce-scatter',
        0.5,
      ),
    })),
    measured: undefined,
  };
}

/**
 * Every method does the same model compute; only coding differs. When projecting elsewhere, give
 * all methods the median of their measured compute rates, so one method's run on a busier moment
 * of a shared box does not read as a speedup or slowdown of the method.
 */
export function withSharedCompute(profiles: MethodProfile[]): MethodProfile[] {
  const rates = profiles.map(boxFlopsPerMs).sort((a, b) => a - b);
  if (!rates.length) return profiles;
  const mid = rates.length >> 1;
  const rate = rates.length % 2 ? rates[mid] : (rates[mid - 1] + rates[mid]) / 2;
  return profiles.map((p) => ({
    ...p,
    units: p.units.map((u) => ({
      ...u,
      forwardMs: u.forwardFlops / rate,
      backwardMs: u.backwardFlops / rate,
    })),
  }));
}

/**
 * Projects every method; speedups compare with the fp32 FSDP method of the same list (which must
 * be there) and with the bf16 method (measured if the run has one, else derived from fp32).
 * `compareMeasured`: `c` is the link the run was measured on, so report the prediction's error.
 */
export function projectMethods(
  measured: MethodProfile[],
  c: ClusterSpec,
  compareMeasured = false,
): MethodProjection[] {
  const profiles = compareMeasured ? measured : withSharedCompute(measured);
  const fsdp = profiles.find((p) => p.id === 'fsdp');
  if (!fsdp)
    throw new Error('projection needs the FSDP baseline among the methods (the run skipped it)');
  const base = projectStep(fsdp, c);
  const bf16 = profiles.find((p) => p.id === 'bf16') ?? bf16FromFsdp(fsdp);
  const bf16Step = projectStep(bf16, c);
  return profiles.map((p) => {
    const s = projectStep(p, c);
    const m = p.measured;
    return {
      method: p.method,
      label: p.label,
      pattern: p.pattern,
      wireRatio: p.wireRatio,
      ...s,
      speedupVsFsdp: base.stepMs / s.stepMs,
      speedupVsBf16: bf16Step.stepMs / s.stepMs,
      ...(m ? { measured: m } : {}),
      ...(m && compareMeasured && sameLayout(p, c)
        ? { errorVsMeasured: (s.stepMs - m.stepMs) / m.stepMs }
        : {}),
    };
  });
}
