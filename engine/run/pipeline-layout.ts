/**
 * Where a rank sits in pipeline x data parallelism, and which GPT units each stage runs.
 *
 * Rank layout: rank = dp * stages + stage. The stages of one pipeline replica are consecutive
 * ranks (so on a multi-node launch a pipeline's neighbours share a node when they can, and the
 * data-parallel groups span nodes, as Megatron places them).
 *   stage group (one pipeline):  [dp * S, ..., dp * S + S - 1]
 *   data-parallel group (stage): [stage, S + stage, 2S + stage, ...]
 *
 * Units: the GPT's units (embedding, blocks, head) in order, cut into `stages` consecutive runs of
 * near-equal length (earlier stages take the extra unit), so the embedding is always on the first
 * stage and the head on the last.
 */

export interface PipelineLayout {
  stages: number;
  /** Data-parallel degree: world / stages. */
  dp: number;
  rank: number;
  stage: number;
  dpIndex: number;
  /** Ranks of this rank's stage across the data-parallel replicas (gradients averaged over them). */
  dpGroup: number[];
  /** Ranks of this rank's pipeline replica, by stage. */
  pipeline: number[];
  prev?: number;
  next?: number;
  /** GPT unit indices of every stage. */
  stageUnits: number[][];
}

/** Why `stages` cannot split `world` ranks running a model of `units` units, or undefined. */
export function pipelineLayoutProblem(
  world: number,
  stages: number,
  units: number,
): string | undefined {
  if (!Number.isInteger(stages) || stages < 1) return `pipelineStages must be >= 1, got ${stages}`;
  if (world % stages !== 0)
    return `worldSize (${world}) must be divisible by pipelineStages (${stages}): world = stages x data-parallel ranks`;
  if (stages > units)
    return `pipelineStages (${stages}) exceeds the model's ${units} units (embedding, ${units - 2} blocks, head): use at most ${units}`;
  return undefined;
}

/** Consecutive near-equal runs of `units` unit indices, one per stage. */
export function partitionUnits(units: number, stages: number): number[][] {
  const base = Math.floor(units / stages);
  const extra = units % stages;
  const out: number[][] = [];
  let u = 0;
  for (let s = 0; s < stages; s++) {
    const n = base + (s < extra ? 1 : 0);
    out.push(Array.from({ length: n }, (_, i) => u + i));
    u += n;
  }
  return out;
}

export function pipelineLayout(
  rank: number,
  world: number,
  stages: number,
  units: number,
): PipelineLayout {
  const problem = pipelineLayoutProblem(world, stages, units);
  if (problem) throw new Error(problem);
  const dp = world / stages;
  const stage = rank % stages;
  const dpIndex = Math.floor(rank / stages);
  return {
    stages,
    dp,
    rank,
    stage,
    dpIndex,
    dpGroup: Array.from({ length: dp }, (_, d) => d * stages + stage),
    pipeline: Array.from({ length: stages }, (_, s) => dpIndex * stages + s),
    prev: stage > 0 ? rank - 1 : undefined,
    next: stage < stages - 1 ? rank + 1 : undefined,
    stageUnits: partitionUnits(units, stages),
  };
}
