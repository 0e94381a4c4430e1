/**
 * The plain view of a validated profile that the UI edits and shows (browser-safe: types only).
 * run/profile.ts checks that it stays a faithful view of the schema's output.
 */
export interface LinkSpecDoc {
  gbps: number;
  latencyUs: number;
}

/** A link preset name (`1GbE`, `off`, ...) or a custom link. */
export type TierDoc = string | LinkSpecDoc;

export type ModelDoc =
  | { preset: string; tied: boolean }
  | {
      layers: number;
      dModel: number;
      heads: number;
      seqLen: number;
      vocab?: number;
      tied: boolean;
    };

export interface MethodDoc {
  id: string;
  params: Record<string, unknown>;
  errorFeedback?: unknown;
  label?: string;
}

/** A validated benchmark profile (every default filled in). */
export interface ProfileDoc {
  version: number;
  name: string;
  description?: string;
  model: ModelDoc;
  data: { corpus: string; seed: number };
  train: {
    steps: number;
    batchPerRank: number;
    lr: number;
    warmupSteps: number;
    weightDecay: number;
    gradClip: number;
    seed: number;
  };
  parallel: {
    worldSize: number;
    nodes: number;
    sharding: string;
    pipelineStages: number;
    microBatches?: number;
  };
  network: { intra: TierDoc; inter: TierDoc; emulate: boolean; sharedNic?: boolean };
  methods: MethodDoc[];
  baseline: boolean;
  health: { spikeFactor: number; window: number; stopOnError: boolean; stallTimeoutS: number };
  backend: string;
  /** 'builtin' (the default) or 'pytorch'. */
  engine?: string;
  pytorch?: { zero: boolean };
}

/** One invalid field: `path` is dotted (`parallel.worldSize`, `methods.0.params.ratio`). */
export interface FieldIssue {
  path: string;
  message: string;
}
