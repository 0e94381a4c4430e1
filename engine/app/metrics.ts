/** The records a run writes: one metrics line per rank per step, and a summary per method. */
import { z } from 'zod';

export const MetricLineSchema = z.object({
  run: z.string(),
  method: z.string(),
  step: z.number().int(),
  rank: z.number().int(),
  loss: z.number(),
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
  tokens: z.number(),
  backend: z.string(),
  lr: z.number().optional(),
  gradNorm: z.number().optional(),
  /** Method-specific figures, e.g. { peelRate } for sketch-based methods. */
  stats: z.record(z.string(), z.number()).optional(),
});
export type MetricLine = z.infer<typeof MetricLineSchema>;

export const RUN_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const MethodSummarySchema = z.object({
  method: z.string(),
  label: z.string(),
  status: z.enum(RUN_STATUSES),
  steps: z.number().int(),
  tokensPerSec: z.number(),
  meanStepMs: z.number(),
  meanComputeMs: z.number(),
  meanExposedCommMs: z.number(),
  meanCommMs: z.number(),
  wireBytesPerStep: z.number(),
  rawBytesPerStep: z.number(),
  compressionRatio: z.number(),
  firstLoss: z.number(),
  finalLoss: z.number(),
  speedupVsBaseline: z.number().optional(),
  lossGapVsBaseline: z.number().optional(),
  error: z.string().optional(),
});
export type MethodSummary = z.infer<typeof MethodSummarySchema>;

export const RunSummarySchema = z.object({
  run: z.string(),
  profile: z.string(),
  status: z.enum(RUN_STATUSES),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  methods: z.array(MethodSummarySchema),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;
