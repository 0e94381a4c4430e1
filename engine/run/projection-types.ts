/**
 * The projection's data types, browser-safe (types only) so the renderer and the report generator
 * can import them without pulling in Node or tfjs.
 *
 * A `MethodProfile` is what one measured method of one run says about itself: per unit, how long
 * its compute took on the box that ran it and which collectives moved how many bytes. A
 * `ClusterSpec` describes a machine to project onto. `projectMethod` (engine/projection/index.ts)
 * turns the two into a predicted step.
 */

export type ShardingName = 'FULL_SHARD' | 'SHARD_GRAD_OP' | 'NO_SHARD' | 'HYBRID_SHARD';

/**
 * How a method's gradient reduction travels (the FSDP baseline is a plain ring reduce-scatter).
 * 'hierarchical-all-to-all': qgZ's all-to-all inside each node, then across nodes between the
 * ranks at the same position (each element crosses nodes once).
 */
export type ReducePattern =
  'fsdp' | 'reduce-scatter' | 'all-to-all' | 'hierarchical-all-to-all' | 'rounds';

/** The collective algorithms the engine runs (engine/comm/collectives.ts). */
export type CollectiveOp =
  'all-gather' | 'reduce-scatter' | 'all-reduce' | 'hierarchical-all-reduce' | 'all-to-all';

/**
 * Which ranks a collective spans: the unit's shard group, its replica group, everyone, the rank's
 * node (hpZ's backward gathers, qgZ's first step) or the ranks at its position on every node
 * (qgZ's second step).
 */
export type GroupName = 'shard' | 'replica' | 'world' | 'node' | 'column';

/** One collective of one unit: `bytes` is the logical vector (all ranks' parts), not what is sent. */
export interface CollectiveCall {
  op: CollectiveOp;
  group: GroupName;
  bytes: number;
  /** Extra latency-bound rounds (methods with their own rounds: one per extra exchange). */
  rounds?: number;
  /**
   * The busiest rank's bytes over the ranks' mean (1 when absent). `bytes` is the mean, which is
   * what the ranks send on average; the call ends when the rank with the most to send is done.
   */
  slowest?: number;
}

export type UnitKind = 'embedding' | 'block' | 'head';

export interface UnitProfile {
  name: string;
  kind: UnitKind;
  /** Parameters in the unit (unpadded). */
  numel: number;
  /** Forward and backward (with the forward recomputed inside it) FLOPs of one rank's step. */
  forwardFlops: number;
  backwardFlops: number;
  /** Compute-thread time on the measured box, ms per step. */
  forwardMs: number;
  backwardMs: number;
  /** Coding of this unit's gradient before its reduction (encode), on the compute thread, ms per step. */
  codecMs: number;
  /**
   * Compute-thread work that needs the unit's reduction first (decode, error-feedback update): it
   * runs when the compute thread next waits (the metrics count it inside exposed communication),
   * so it lengthens that wait or the tail. Absent: none.
   */
  decodeMs?: number;
  /** Parameter all-gather before forward, again before backward (FULL_SHARD), and the gradient reduction. */
  forwardGather?: CollectiveCall;
  backwardGather?: CollectiveCall;
  reduce: CollectiveCall[];
}

/** GPT dimensions the projection needs (engine/model/gpt.ts GptConfig). */
export interface ModelDims {
  layers: number;
  dModel: number;
  heads: number;
  seqLen: number;
  vocab: number;
  tied: boolean;
}

/** One measured method of a run, as the projection consumes it. */
export interface MethodProfile {
  /** Method key in the run (metrics lines carry it), id and label. */
  method: string;
  id: string;
  label: string;
  pattern: ReducePattern;
  /** Wire bytes / fp32 bytes of the gradient reduction, as measured (1 for the baseline). */
  wireRatio: number;
  /**
   * The compressed payload's bytes over the fp32 bytes of the same gradient on the compression
   * group (1 for the baseline): what resizes a unit's reduction for another model or cluster.
   */
  payloadRatio: number;
  /** Parameter all-gather bytes over fp32 (bf16 0.5, blockwise int8 ~0.254); 1 when absent. */
  paramRatio?: number;
  /** hpZ: backward gathers from the secondary shards inside the node (fp32, never across nodes). */
  hpz?: boolean;
  world: number;
  nodes: number;
  sharding: ShardingName;
  model: ModelDims;
  batchPerRank: number;
  units: UnitProfile[];
  /** Gradient-norm all-reduce and AdamW on the local shard after the reductions, ms per step. */
  optimizerMs: number;
  /**
   * Rank skew of the measured box (ranks sharing cores drift apart between meeting points): the
   * slowest rank's lead over the mean after d ms of compute is skewPerSqrtMs * sqrt(d). From the
   * spread of the ranks' compute per step; 0 or absent when the ranks kept in step.
   */
  skewPerSqrtMs?: number;
  /**
   * The compressed reduction's busiest sender over the ranks' mean (1 or absent: balanced). A
   * method whose compression differs along the flat gradient (TAGC sends attention and norms
   * exact) gives the owners of some shards larger parts than others, and an exchange lasts as long as
   * its largest send. From the ranks' measured wire bytes; kept only on the measured layout.
   */
  sendImbalance?: number;
  /** The run's own figures, for comparison only (never an input to the prediction). */
  measured?: { stepMs: number; computeMs: number; exposedCommMs: number; steps: number };
}

export interface LinkTier {
  gbps: number;
  latencyUs: number;
}

/** A cluster to project onto (validated by ClusterSchema in engine/run/cluster.ts). */
export interface ClusterSpec {
  name: string;
  description?: string;
  nodes: number;
  gpusPerNode: number;
  /**
   * Dense bf16/fp32 TFLOP/s of one GPU and the fraction a training step reaches; without it the
   * measured box's compute is kept (a "what if the network were different" projection).
   */
  gpu?: { tflops: number; efficiency: number; name?: string };
  intra: LinkTier;
  inter: LinkTier;
  /**
   * true: a GPU's inter-node traffic to all peers shares its one NIC (real clusters); false: every
   * rank pair has its own link (how GradBench's link emulation paces).
   */
  sharedNic: boolean;
  /** Model to project (default: the measured run's). */
  model?: ModelDims;
  /** Sequences per GPU per step (default: the measured run's). */
  batchPerGpu?: number;
  sharding?: ShardingName;
}

export interface ProjectedStep {
  stepMs: number;
  computeMs: number;
  /** Compute-thread time spent waiting on communication. */
  exposedCommMs: number;
  /** Time the comm stream is busy. */
  commMs: number;
  /** Parts of the exposed time: the last reduction + optimizer tail, everything before it. */
  tailMs: number;
  /**
   * Decode work on the compute thread that runs inside its waits (part of `exposedCommMs`, as
   * the engine's metrics count it); absent when the method decodes nothing after its reductions.
   */
  decodeMs?: number;
}

export interface MethodProjection extends ProjectedStep {
  method: string;
  label: string;
  pattern: ReducePattern;
  wireRatio: number;
  /** Against the fp32 FSDP baseline and the bf16-reduce FSDP baseline on the same cluster. */
  speedupVsFsdp: number;
  speedupVsBf16?: number;
  measured?: MethodProfile['measured'];
  /** (predicted - measured) / measured step time, when the run was measured on this cluster. */
  errorVsMeasured?: number;
}

export interface RunProjection {
  run: string;
  cluster: ClusterSpec;
  world: number;
  nodes: number;
  sharding: ShardingName;
  model: ModelDims;
  params: number;
  /** Plain-language list of what went in: measured compute, assumed efficiencies, estimates. */
  inputs: string[];
  methods: MethodProjection[];
}

/** What the pre-run probe measured (engine/projection/probe.ts). */
export interface ProbeFigures {
  /** The slowest rank's mean compute per step, every rank computing at once. */
  computeMs: number;
  /** The ranks' mean compute per step, and their skew (MethodProfile.skewPerSqrtMs). */
  meanComputeMs?: number;
  skewPerSqrtMs?: number;
  /** The slowest rank's ring all-reduce bus bandwidth, Gb/s, at `allReduceBytes`. */
  busGbps: number;
  allReduceBytes: number;
  allReduceMs: number;
  ranks: number;
}

/** A prediction made before a run from the probe (prediction.json in the run directory). */
export interface RunPrediction {
  probe: ProbeFigures;
  cluster: ClusterSpec;
  inputs: string[];
  methods: MethodProjection[];
  /** Methods whose payload only exists inside their own rounds: not predicted before a run. */
  skipped: string[];
}
