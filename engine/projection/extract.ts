/**
 * The measured inputs of a projection, from a run directory: per method, the compute the ranks
 * measured (split over units by FLOPs), the encode/decode time, the wire bytes (as a payload
 * ratio applied per unit) and the layout. The measured step time is kept beside the profile for
 * comparison and never used as an input.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricLine, RunSummary } from '../run/metrics.js';
import { RunSummarySchema } from '../run/metrics.js';
import type { Profile } from '../run/profile.js';
import {
  RunConfigSchema,
  hpzOf,
  methodKey,
  modelConfig,
  paramCommOf,
  type RunConfig,
} from '../run/run-config.js';
import { readMetrics } from '../run/metrics-file.js';
import { aggregateSteps, timedSteps } from '../run/summary.js';
import { splitRepeatKey } from '../run/repeats.js';
import { resolveTier } from '../comm/emulation.js';
import { paramCommRatio } from '../compress/param-codec.js';
import { methodInfo } from '../compress/registry.js';
import { buildCorpus } from '../model/data.js';
import {
  BACKWARD_FLOPS_FACTOR,
  forwardFlops,
  groupShapes,
  reductionReference,
  unitCollectives,
  unitShapes,
  type Layout,
} from './fsdp-plan.js';
import { skewPerSqrtMs } from './simulate.js';
import type {
  ClusterSpec,
  LinkTier,
  MethodProfile,
  ModelDims,
  ReducePattern,
} from '../run/projection-types.js';

/**
 * AdamW on the local shard plus its gradient-norm pass, per parameter, in V8 on a 2-core x86 box
 * (a loop over 1 M elements: 21 ns each). The optimizer's time is not in the metrics; this
 * estimate takes it out of the measured compute so it can be placed after the reductions.
 */
export const OPTIMIZER_NS_PER_PARAM = 21;
/**
 * What one hop of a collective costs in the engine's comm stack beyond the link itself: the
 * compute thread hands the op to its comm worker and gets the result back by message, and every
 * ring hop wakes the receiving rank's worker, which frames, copies (and adds) the chunk before
 * passing it on, all on cores the ranks share. Measured here with tiny messages, where the link
 * costs nothing: the figures all-reduce of a nano step (80 B, 4 ranks, 6 hops at 100 us emulated
 * latency) takes 2.5 ms on the last rank to join it, 0.32 ms per hop above the latency; the comm
 * benchmark's 8 B all-reduce takes 1.66 ms over 6 hops with emulation off (0.28 ms per hop),
 * 0.79 ms over 2 hops at 50 us emulated (0.35 ms). The emulator's latency comes on top.
 */
export const COMM_STACK_HOP_US = 300;
/**
 * A tier with emulation off is raw loopback TCP between rank processes: BENCHMARKS.md measures
 * 0.74 GB/s per link for a 4-process ring (about 6 Gb/s); latency is the comm stack's hop.
 */
export const LOOPBACK: LinkTier = { gbps: 6, latencyUs: COMM_STACK_HOP_US };

export interface MeasuredRun {
  run: string;
  dir?: string;
  /** The run's own machine and links as a cluster (no GPU figure: compute stays as measured). */
  cluster: ClusterSpec;
  profiles: MethodProfile[];
  params: number;
  /** What the profiles were built from, in words. */
  inputs: string[];
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** An emulated tier as the ranks see it: the emulator's latency plus the comm stack's hop. */
function tierOf(t: string | LinkTier, emulate: boolean): LinkTier {
  const link = emulate ? resolveTier(t) : undefined;
  return link ? { gbps: link.gbps, latencyUs: link.latencyUs + COMM_STACK_HOP_US } : LOOPBACK;
}

/** How a run's links were made, when not by the transport's emulation. */
export interface MeasuredLinks {
  /**
   * The profile's tiers were shaped outside the transport, which ran unemulated (kernel links:
   * tc in network namespaces at the same figures), so they are the links, not raw loopback.
   */
  shapedOutside?: boolean;
}

const count = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/** `the measured run: 1 node x 2 ranks, intra loopback` (one node has no inter-node link). */
function measuredDescription(p: Profile, intra: string, inter: string): string {
  const { nodes, worldSize } = p.parallel;
  const layout = `${count(nodes, 'node')} x ${count(worldSize / nodes, 'rank')}`;
  return `the measured run: ${layout}, intra ${intra}${nodes > 1 ? `, inter ${inter}` : ''}`;
}

/** A profile's links and layout as a cluster description (how the emulator runs it). */
export function measuredCluster(p: Profile, links: MeasuredLinks = {}): ClusterSpec {
  const { intra, inter } = p.network;
  const emulate = p.network.emulate || links.shapedOutside === true;
  const label = (t: string | LinkTier): string =>
    !emulate || t === 'off' ? 'loopback' : typeof t === 'string' ? t : `${t.gbps} Gb/s`;
  return {
    name: 'measured',
    description: measuredDescription(p, label(intra), label(inter)),
    nodes: p.parallel.nodes,
    gpusPerNode: p.parallel.worldSize / p.parallel.nodes,
    intra: tierOf(intra, emulate),
    inter: tierOf(inter, emulate),
    // As the emulator paced it; links shaped outside (tc on a network namespace's one interface)
    // share that interface.
    sharedNic: p.network.sharedNic || links.shapedOutside === true,
  };
}

/** A profile's model dimensions (the vocabulary comes from the corpus, as the ranks build it). */
export function runModel(p: Profile): ModelDims {
  const m = modelConfig(p, buildCorpus(p.data.corpus, p.data.seed).vocab.length);
  return { ...m };
}

/** Whether the method's payload exists only inside its own rounds (no standalone encode). */
export function ownRounds(id: string, params: Record<string, unknown>): boolean {
  return id !== 'fsdp' && methodInfo(id).pattern(params) === 'rounds';
}

export function patternOf(id: string, params: Record<string, unknown>): ReducePattern {
  if (id === 'fsdp') return 'fsdp';
  const info = methodInfo(id);
  const pattern = info.pattern(params);
  // Rounds of a standard shape (TAGC's all-to-all, qgZ's two-level one) are projected as such.
  return pattern === 'rounds' && info.kind === 'gradient'
    ? (info.travelsAs?.(params) ?? pattern)
    : pattern;
}

/** What one method's profile is built from: the compute thread's time and the wire, per step. */
export interface MethodFigures {
  method: string;
  id: string;
  label: string;
  pattern: ReducePattern;
  /** Compute-thread time per step outside waits (units, encode and optimizer together), ms. */
  computeMs: number;
  /** Rank skew per sqrt(ms) of compute (MethodProfile.skewPerSqrtMs); absent: none. */
  skewPerSqrtMs?: number;
  /** Encode + decode per step, ms. */
  codecMs: number;
  /**
   * The part of codecMs that runs after the reduction (decode): a continuation the compute
   * thread runs inside a wait, so it is in the measured exposed time, not in computeMs.
   */
  decodeMs?: number;
  /** The compressed payload over fp32 bytes (1 for the baseline), and the wire over fp32. */
  payloadRatio: number;
  wireRatio: number;
  /** Parameter gather bytes over fp32 (MethodProfile.paramRatio). */
  paramRatio?: number;
  /** hpZ (MethodProfile.hpz). */
  hpz?: boolean;
  /** The compressed reduction's busiest sender over the mean (MethodProfile.sendImbalance). */
  sendImbalance?: number;
  measured?: MethodProfile['measured'];
}

/** A profile's layout, model and per-unit shapes, shared by every method of a run. */
export function profileShape(p: Profile) {
  const layout: Layout = {
    world: p.parallel.worldSize,
    nodes: p.parallel.nodes,
    sharding: p.parallel.sharding,
  };
  const model = runModel(p);
  const shapes = unitShapes(model);
  const tokens = p.train.batchPerRank * model.seqLen;
  const flops = shapes.map((s) => forwardFlops(s.kind, model, tokens, true));
  const params = shapes.reduce((a, s) => a + s.numel, 0);
  return { layout, model, shapes, flops, params, batchPerRank: p.train.batchPerRank };
}
export type ProfileShape = ReturnType<typeof profileShape>;

/**
 * One method's profile: its compute less encoding and an optimizer estimate, split over units by
 * FLOPs; encode and decode by parameters; collectives from the layout and the payload ratio.
 */
export function methodProfile(shape: ProfileShape, f: MethodFigures): MethodProfile {
  const { layout, model, shapes, flops, params } = shape;
  const totalFlops = flops.reduce((a, x) => a + x * (1 + BACKWARD_FLOPS_FACTOR), 0);
  const shardParams = params / groupShapes(layout).shard.size;
  const optimizerMs = Math.min((shardParams * OPTIMIZER_NS_PER_PARAM) / 1e6, f.computeMs / 5);
  const decodeMs = f.decodeMs ?? 0;
  const encodeMs = f.codecMs - decodeMs;
  const unitMs = Math.max(f.computeMs - encodeMs - optimizerMs, f.computeMs / 2);
  const msPerFlop = unitMs / totalFlops;
  return {
    method: f.method,
    id: f.id,
    label: f.label,
    pattern: f.pattern,
    wireRatio: f.wireRatio,
    payloadRatio: f.payloadRatio,
    ...(f.paramRatio !== undefined && f.paramRatio !== 1 ? { paramRatio: f.paramRatio } : {}),
    ...(f.hpz ? { hpz: true } : {}),
    ...(f.sendImbalance && f.sendImbalance > 1 ? { sendImbalance: f.sendImbalance } : {}),
    world: layout.world,
    nodes: layout.nodes,
    sharding: layout.sharding,
    model,
    batchPerRank: shape.batchPerRank,
    optimizerMs,
    ...(f.skewPerSqrtMs ? { skewPerSqrtMs: f.skewPerSqrtMs } : {}),
    units: shapes.map((s, index) => ({
      name: s.name,
      kind: s.kind,
      numel: s.numel,
      forwardFlops: flops[index],
      backwardFlops: BACKWARD_FLOPS_FACTOR * flops[index],
      forwardMs: flops[index] * msPerFlop,
      backwardMs: BACKWARD_FLOPS_FACTOR * flops[index] * msPerFlop,
      codecMs: (encodeMs * s.numel) / params,
      ...(decodeMs > 0 ? { decodeMs: (decodeMs * s.numel) / params } : {}),
      ...unitCollectives(
        layout,
        { numel: s.numel, index, count: shapes.length, tied: model.tied },
        f.pattern,
        f.payloadRatio,
        f.paramRatio,
        f.hpz,
        f.sendImbalance,
      ),
    })),
    ...(f.measured ? { measured: f.measured } : {}),
  };
}

/** Profiles of every method that reported timed steps. */
export function profilesFromRun(
  config: RunConfig,
  lines: MetricLine[],
  summary?: RunSummary,
  links: MeasuredLinks = {},
): MeasuredRun {
  const shape = profileShape(config.profile);
  const { layout, shapes, params } = shape;
  const refs = shapes.map((s) => reductionReference(layout, s.numel));
  const fixedSent = refs.reduce((a, r) => a + r.fixedSent, 0);
  const compressibleSent = refs.reduce((a, r) => a + r.compressibleSent, 0);
  const inputs = [
    `compute per unit: each method's measured compute-thread time per step (mean over ranks and timed steps), less encoding and an optimizer estimate (${OPTIMIZER_NS_PER_PARAM} ns per shard parameter), split over units by FLOPs (backward ${BACKWARD_FLOPS_FACTOR}x forward: it recomputes the forward)`,
    'decode: the measured decode time runs on the compute thread once its reduction is in, at the next wait (the metrics count it as exposed time)',
    "rank skew: the spread of the ranks' compute per step (slowest minus mean), growing like the square root of the compute between two meeting points",
    "bytes per unit: from the model dimensions and the sharding; compressed methods scale the reduction by their measured wire bytes, and parameter gathers by their format (bf16 0.5, int8 0.254 of fp32); hpZ's backward gathers stay fp32 inside the node, qgZ and TAGC as an all-to-all inside the node then one across nodes (TAGC with byNode off: one all-to-all)",
    `links: the run's emulated tiers plus ${COMM_STACK_HOP_US} us per hop for the comm stack (raw loopback taken as 6 Gb/s)`,
    'streams: gathers and reductions on two comm streams that share the link; a stream hands over its next collective once the compute thread has taken the last one, at a wait',
  ];
  const profiles: MethodProfile[] = [];
  for (const m of config.methods) {
    const key = methodKey(m);
    const mine = lines.filter((l) => l.method === key);
    const steps = aggregateSteps(mine);
    const timed = timedSteps(steps);
    if (!timed.length) {
      inputs.push(`${key}: no timed steps, left out`);
      continue;
    }
    // Ranks meet at every collective, so a step runs at the slowest rank of each stretch of
    // compute between meetings: the ranks' mean compute plus their skew. Noise from sharing cores
    // grows like the square root of the time computed, so the spread of a whole step's compute
    // (slowest minus mean, over D ms) gives the skew after d ms: spread * sqrt(d / D).
    const byStep = new Map<number, MetricLine[]>();
    for (const l of mine) {
      const ranks = byStep.get(l.step);
      if (ranks) ranks.push(l);
      else byStep.set(l.step, [l]);
    }
    const ranksOf = (step: number): MetricLine[] => byStep.get(step) ?? [];
    const computeMs = mean(timed.map((s) => s.computeMs));
    const spread = mean(
      timed.map((s) => Math.max(0, ...ranksOf(s.step).map((l) => l.computeMs)) - s.computeMs),
    );
    const skew = skewPerSqrtMs(spread, computeMs);
    const rawEncode = mean(timed.map((s) => s.encodeMs));
    // Decoding waits for the reduction: the compute thread runs it inside a wait, so the
    // metrics count it as exposed time, not as compute.
    const decodeMs = mean(timed.map((s) => s.decodeMs));
    const pattern = patternOf(m.id, m.params);
    // A method with its own rounds times coding and communication together unless it reports
    // its coding; never let that swallow more than half the compute thread.
    const encodeMs = Math.min(rawEncode, computeMs / 2);
    if (encodeMs < rawEncode)
      inputs.push(
        `${key}: coding time capped at half the compute (${rawEncode.toFixed(1)} ms reported, includes its rounds)`,
      );
    const wire = mean(steps.map((s) => s.wireBytes / s.ranks));
    const sendImbalance =
      pattern === 'fsdp' ? 1 : mean(timed.map((s) => busiestSender(ranksOf(s.step), fixedSent)));
    // Once per method: its repetitions (key@2, ...) send the same parts.
    if (sendImbalance > 1.01 && splitRepeatKey(key).repetition === 1)
      inputs.push(
        `${key}: its busiest rank sends ${sendImbalance.toFixed(2)}x the ranks' mean in the compressed reduction; each exchange lasts until that rank's sends are out`,
      );
    const raw = mean(steps.map((s) => s.rawBytes / s.ranks));
    const summaryOf = summary?.methods.find((s) => s.method === key);
    profiles.push(
      methodProfile(shape, {
        method: key,
        id: m.id,
        label: m.label,
        pattern,
        computeMs,
        skewPerSqrtMs: skew,
        codecMs: encodeMs + decodeMs,
        decodeMs,
        payloadRatio:
          pattern === 'fsdp' || compressibleSent === 0
            ? 1
            : Math.max(0, (wire - fixedSent) / compressibleSent),
        wireRatio: raw > 0 ? wire / raw : 1,
        paramRatio: paramCommRatio(paramCommOf(config.profile, m)),
        hpz: hpzOf(config.profile, m),
        sendImbalance,
        measured: {
          stepMs: summaryOf?.meanStepMs ?? mean(timed.map((s) => s.stepMs)),
          computeMs,
          exposedCommMs: mean(timed.map((s) => s.exposedCommMs)),
          steps: timed.length,
        },
      }),
    );
    if (steps[0].ranks !== layout.world)
      inputs.push(`${key}: only ${steps[0].ranks} of ${layout.world} ranks reported`);
  }
  return {
    run: config.run,
    cluster: measuredCluster(config.profile, links),
    profiles,
    params,
    inputs,
  };
}

/**
 * The busiest rank's compressed bytes in one step (`ranks`: its lines) over the ranks' mean (1 when
 * balanced or unknown): each rank's wire bytes less the fixed fp32 part every rank sends alike.
 * Step totals stand in for every unit: the same shard boundaries cut every unit's vector.
 */
function busiestSender(ranks: MetricLine[], fixedSent: number): number {
  const sent = ranks.map((l) => l.wireBytes - fixedSent);
  const avg = mean(sent);
  return avg > 0 ? Math.max(1, Math.max(...sent) / avg) : 1;
}

/** Reads config.json, metrics.jsonl and summary.json (if there) of a run directory. */
export async function readRunProfiles(
  dir: string,
  links: MeasuredLinks = {},
): Promise<MeasuredRun> {
  const read = async (name: string): Promise<unknown> => {
    const file = path.join(dir, name);
    try {
      return JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') return undefined;
      throw new Error(`${file}: ${err.message}`);
    }
  };
  const rawConfig = await read('config.json');
  if (rawConfig === undefined) throw new Error(`${dir} has no config.json: not a run directory`);
  const config = RunConfigSchema.safeParse(rawConfig);
  if (!config.success)
    throw new Error(`${path.join(dir, 'config.json')} is not a valid run config`);
  const rawSummary = await read('summary.json');
  const summary = rawSummary === undefined ? undefined : RunSummarySchema.safeParse(rawSummary);
  const { metrics } = await readMetrics(path.join(dir, 'metrics.jsonl'));
  const measured = profilesFromRun(
    config.data,
    metrics,
    summary?.success ? summary.data : undefined,
    links,
  );
  return { ...measured, dir };
}
