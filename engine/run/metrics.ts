/** The records a run writes: one metrics line per rank per step, and a summary per method. */
import { z } from 'zod';

export const HEALTH_KINDS = ['nan', 'inf', 'zero-grad-norm', 'loss-spike'] as const;
export type HealthKind = (typeof HEALTH_KINDS)[number];

/** A numerical-health warning of one rank at one step (engine/parallel/health.ts). */
export const HealthWarningSchema = z.object({
  method: z.string(),
  step: z.number().int(),
  rank: z.number().int(),
  kind: z.enum(HEALTH_KINDS),
  /** What was checked: the rank's loss, or its reduced gradient shard (the global norm for 0). */
  subject: z.enum(['loss', 'gradient']),
  /** FSDP unit index and the parameter holding the first bad value, e.g. `block1 (mlp.wfc)`. */
  unit: z.number().int().optional(),
  layer: z.string().optional(),
  /** Non-finite values in this rank's gradient shard of that unit. */
  count: z.number().int().optional(),
  /** For a loss spike: the loss and the running mean it was compared with. */
  loss: z.number().optional(),
  mean: z.number().optional(),
  message: z.string(),
});
export type HealthWarning = z.infer<typeof HealthWarningSchema>;

/**
 * Steps are numbered from 1 wherever a person reads them (progress line, warnings, CSV, charts):
 * step 1 is the first step. metrics.jsonl and GRADBENCH_FAULT keep the 0-based index.
 */
export const displayStep = (index: number): number => index + 1;

/** One line of text for logs, the CLI and run errors. */
export const healthWarningText = (w: HealthWarning): string =>
  `${w.method} step ${displayStep(w.step)} rank ${w.rank}: ${w.message}`;

export const MetricLineSchema = z.object({
  run: z.string(),
  method: z.string(),
  step: z.number().int(),
  rank: z.number().int(),
  /** JSON has no NaN: a non-finite loss travels as null and reads back as NaN. */
  loss: z
    .number()
    .nullable()
    .transform((v) => v ?? NaN),
  computeMs: z.number(),
  exposedCommMs: z.number(),
  /** Time the comm worker spent on this step's collectives (overlapped or not). */
  commMs: z.number(),
  encodeMs: z.number(),
  decodeMs: z.number(),
  stepMs: z.number(),
  rawBytes: z.number(),
  wireBytes: z.number(),
  relError: z.number().optional(),
  /** Bytes sent in parameter all-gathers, and the same gathers in fp32 (FSDP runs). */
  paramWireBytes: z.number().optional(),
  paramRawBytes: z.number().optional(),
  /** hpZ: memory of this rank's secondary parameter shards. */
  secondaryBytes: z.number().optional(),
  /**
   * Runs on several nodes: bytes this rank's links carried to ranks of other nodes during the
   * step (every collective, frame headers included), counted per link as the link sent them.
   */
  interNodeBytes: z.number().optional(),
  tokens: z.number(),
  backend: z.string(),
  lr: z.number().optional(),
  gradNorm: z.number().optional(),
  /** Method-specific figures, e.g. { peelRate } for sketch-based methods. */
  stats: z.record(z.string(), z.number()).optional(),
  /** Pipeline runs: time this rank's stage waited for its neighbouring stages. */
  bubbleMs: z.number().optional(),
  /** Pipeline runs: bytes sent to neighbouring stages (activations, activation gradients), and in fp32. */
  interStageBytes: z.number().optional(),
  interStageRawBytes: z.number().optional(),
  /** Health warnings this rank raised at this step. */
  warnings: z.array(HealthWarningSchema).optional(),
  /** The optimizer update was skipped on every rank (a non-finite gradient or loss somewhere). */
  skipped: z.boolean().optional(),
});
export type MetricLine = z.infer<typeof MetricLineSchema>;

/** What a trainer's step reports that goes into its metrics line. */
export type LineFigures = Pick<
  MetricLine,
  | 'loss'
  | 'computeMs'
  | 'exposedCommMs'
  | 'commMs'
  | 'encodeMs'
  | 'decodeMs'
  | 'stepMs'
  | 'rawBytes'
  | 'wireBytes'
  | 'relError'
  | 'stats'
  | 'paramWireBytes'
  | 'paramRawBytes'
  | 'secondaryBytes'
> & { lr: number; gradNorm: number; skipped?: boolean };

/** One rank's metrics line of one step (a non-finite norm is left out, as JSON cannot carry it). */
export function metricLine(
  head: Pick<MetricLine, 'run' | 'method' | 'step' | 'rank' | 'tokens' | 'backend'>,
  s: LineFigures,
): MetricLine {
  return {
    ...head,
    loss: s.loss,
    computeMs: s.computeMs,
    exposedCommMs: s.exposedCommMs,
    commMs: s.commMs,
    encodeMs: s.encodeMs,
    decodeMs: s.decodeMs,
    stepMs: s.stepMs,
    rawBytes: s.rawBytes,
    wireBytes: s.wireBytes,
    lr: s.lr,
    ...(Number.isFinite(s.gradNorm) ? { gradNorm: s.gradNorm } : {}),
    ...(s.skipped ? { skipped: true } : {}),
    ...(s.relError !== undefined ? { relError: s.relError } : {}),
    ...(s.stats ? { stats: s.stats } : {}),
    ...(s.paramWireBytes !== undefined
      ? { paramWireBytes: s.paramWireBytes, paramRawBytes: s.paramRawBytes }
      : {}),
    ...(s.secondaryBytes !== undefined ? { secondaryBytes: s.secondaryBytes } : {}),
  };
}

/**
 * How a run stands. `interrupted`: the launching process went away without finishing the run
 * (killed, crashed, machine off); a reader of the store records it once it notices.
 */
export const RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** How a method stands: `running` only while its ranks are live; `not started` for later ones. */
export const METHOD_STATUSES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'not started',
] as const;
export type MethodStatus = (typeof METHOD_STATUSES)[number];

/**
 * One method's record. Every figure is optional: a method that stopped before its first step
 * (or never started) has none, and one whose losses were all non-finite has no loss; an absent
 * figure is left out of the file (JSON has no NaN), never written as null.
 */
export const MethodSummarySchema = z.object({
  method: z.string(),
  label: z.string(),
  status: z.enum(METHOD_STATUSES),
  steps: z.number().int(),
  tokensPerSec: z.number().optional(),
  meanStepMs: z.number().optional(),
  meanComputeMs: z.number().optional(),
  meanExposedCommMs: z.number().optional(),
  meanCommMs: z.number().optional(),
  wireBytesPerStep: z.number().optional(),
  rawBytesPerStep: z.number().optional(),
  compressionRatio: z.number().optional(),
  firstLoss: z.number().optional(),
  /** Mean loss of the last FINAL_LOSS_WINDOW finite steps (engine/run/summary.ts). */
  finalLoss: z.number().optional(),
  speedupVsBaseline: z.number().optional(),
  lossGapVsBaseline: z.number().optional(),
  /** Against the bf16-reduce FSDP baseline (the run's `bf16` method), when it ran and completed. */
  speedupVsBf16: z.number().optional(),
  /** Parameter all-gather bytes per step over all ranks (FSDP runs), as sent and in fp32. */
  paramWireBytesPerStep: z.number().optional(),
  paramRawBytesPerStep: z.number().optional(),
  /** hpZ: the extra memory of the secondary parameter shards, largest over ranks. */
  secondaryBytesPerRank: z.number().optional(),
  /** Runs on several nodes: bytes that crossed between nodes per step, all links together. */
  interNodeBytesPerStep: z.number().optional(),
  /**
   * With repeats: median over repetitions of (baseline step time / this method's), the number of
   * repetitions paired, and the 95 % interval of that speedup.
   */
  repeats: z.number().int().optional(),
  speedupCiLow: z.number().optional(),
  speedupCiHigh: z.number().optional(),
  /**
   * The speedup this method would reach over fp32 FSDP if its coding cost nothing: the baseline's
   * exposed communication scaled by this method's bytes over the baseline's, collective by
   * collective (parameter gathers, gradient reductions).
   */
  byteCeilingSpeedup: z.number().optional(),
  /** Health warnings raised during the method, over all ranks. */
  healthWarnings: z.number().int().optional(),
  /** Pipeline runs: mean per-stage bubble (ms per step, over ranks), inter-stage bytes per step (all ranks). */
  meanBubbleMs: z.number().optional(),
  interStageBytesPerStep: z.number().optional(),
  interStageRawBytesPerStep: z.number().optional(),
  /** Share of all cores' time that processes other than this run used while the method ran (0-1). */
  otherCpuShare: z.number().optional(),
  /** The machine's 1-minute load average when the method ended. */
  loadAverage: z.number().optional(),
  error: z.string().optional(),
});
export type MethodSummary = z.infer<typeof MethodSummarySchema>;

export const RunSummarySchema = z.object({
  run: z.string(),
  profile: z.string(),
  /** The engine that trained the run ('builtin' when absent: runs from before the choice). */
  engine: z.string().optional(),
  status: z.enum(RUN_STATUSES),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  methods: z.array(MethodSummarySchema),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;
