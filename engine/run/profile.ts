/**
 * Benchmark profiles: what to train, on how many ranks, over which network, with which methods.
 * Versioned and validated with zod at every boundary (CLI, files, IPC, bridge).
 */
import { z } from 'zod';
import { LinkSpecSchema, LINK_PRESET_NAMES } from '../comm/emulation.js';
import {
  ErrorFeedbackSchema,
  METHODS,
  PIPELINE_METHOD_NAMES,
  findMethod,
} from '../compress/registry.js';
import { TargetSchema } from './target.js';
import { MODEL_PRESETS } from '../model/gpt.js';
import { PARAM_COMMS } from '../compress/param-codec.js';
import { pipelineLayoutProblem } from './pipeline-layout.js';
import { HEALTH_DEFAULTS } from './health-settings.js';
import type { FieldIssue, ProfileDoc } from './profile-doc.js';
import { jsonShapeIssues, type JsonShapeLimits } from './json-shape.js';
import { PLAIN_ERRORS } from './plain-issues.js';
import { pytorchEngineIssues } from './pytorch-rules.js';
import { plural } from '../util/format.js';

export const PROFILE_VERSION = 1;

/** The stall watchdog's default (health.stallTimeoutS): a first step on a slow link takes a while. */
export const STALL_TIMEOUT_DEFAULT_S = 300;

/** Largest profile accepted from outside (import, validate, IPC, the HTTP bridge). */
export const PROFILE_MAX_BYTES = 256 * 1024;
/** A profile is a handful of levels deep; free-form parts (method params) get some room. */
const PROFILE_SHAPE: JsonShapeLimits = {
  maxDepth: 32,
  maxBytes: PROFILE_MAX_BYTES,
  what: 'a profile',
  root: '(profile)',
};

export const MODEL_PRESET_NAMES = ['nano', 'micro', 'small', 'gpt2-124m'] as const;
export const SHARDING_STRATEGIES = [
  'FULL_SHARD',
  'SHARD_GRAD_OP',
  'NO_SHARD',
  'HYBRID_SHARD',
] as const;
export const BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export const CORPORA = ['shakespeare', 'synthetic'] as const;
/** Who trains: GradBench's own engine, or PyTorch under torchrun (engine/torch/). */
export const ENGINES = ['builtin', 'pytorch'] as const;

const Tier = z.union([z.enum(LINK_PRESET_NAMES as [string, ...string[]]), LinkSpecSchema]);

export const ModelSchema = z.union([
  z.object({ preset: z.enum(MODEL_PRESET_NAMES), tied: z.boolean().default(false) }).strict(),
  z
    .object({
      layers: z.number().int().min(1).max(96),
      dModel: z.number().int().min(8).max(8192),
      heads: z.number().int().min(1).max(128),
      seqLen: z.number().int().min(2).max(4096),
      vocab: z.number().int().min(2).max(100_000).optional(),
      tied: z.boolean().default(false),
    })
    .strict()
    .refine((m) => m.dModel % m.heads === 0, {
      message: 'dModel must be divisible by heads',
      path: ['heads'],
    }),
]);

export const MethodSchema = z
  .object({
    id: z.string().min(1),
    params: z.record(z.string(), z.unknown()).default({}),
    errorFeedback: z.unknown().optional(),
    label: z.string().optional(),
    /** Parameter all-gather format for this method (default: parallel.paramComm). */
    paramComm: z.enum(PARAM_COMMS).optional(),
    /** hpZ for this method (default: parallel.hpz). */
    hpz: z.boolean().optional(),
  })
  .strict();

const ProfileSchemaBase = z
  .object({
    version: z.literal(PROFILE_VERSION).default(PROFILE_VERSION),
    name: z
      .string()
      .min(1)
      .max(80)
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/,
        'use letters, digits, space, dot, dash or underscore',
      ),
    description: z.string().max(2000).optional(),
    model: ModelSchema.default({ preset: 'nano', tied: false }),
    data: z
      .object({ corpus: z.enum(CORPORA).default('shakespeare'), seed: z.number().int().default(1) })
      .strict()
      .default({ corpus: 'shakespeare', seed: 1 }),
    train: z
      .object({
        steps: z.number().int().min(1).max(1_000_000).default(20),
        batchPerRank: z.number().int().min(1).max(4096).default(8),
        lr: z.number().positive().max(1).default(3e-3),
        warmupSteps: z.number().int().min(0).default(5),
        weightDecay: z.number().min(0).max(1).default(0.01),
        gradClip: z.number().positive().default(1),
        seed: z.number().int().default(1),
      })
      .strict()
      .default({
        steps: 20,
        batchPerRank: 8,
        lr: 3e-3,
        warmupSteps: 5,
        weightDecay: 0.01,
        gradClip: 1,
        seed: 1,
      }),
    parallel: z
      .object({
        worldSize: z.number().int().min(1).max(64).default(2),
        nodes: z.number().int().min(1).default(1),
        sharding: z.enum(SHARDING_STRATEGIES).default('FULL_SHARD'),
        pipelineStages: z.number().int().min(1).default(1),
        /** Micro-batches per step and pipeline (default 2 x pipelineStages); must divide batchPerRank. */
        microBatches: z.number().int().min(1).max(4096).optional(),
        /**
         * Format of FSDP's parameter all-gathers for every method (a method's own paramComm wins):
         * fp32, bf16, or blockwise int8 with a scale per 256 values (ZeRO++ qwZ). Master weights
         * stay fp32 on their owner. NO_SHARD gathers nothing.
         */
        paramComm: z.enum(PARAM_COMMS).default('fp32'),
        /**
         * hpZ: FULL_SHARD keeps a secondary parameter shard inside each node so backward gathers
         * stay in the node (extra memory per rank: 1/ranks-per-node of the gathered units).
         */
        hpz: z.boolean().default(false),
      })
      .strict()
      .default({
        worldSize: 2,
        nodes: 1,
        sharding: 'FULL_SHARD',
        pipelineStages: 1,
        paramComm: 'fp32',
        hpz: false,
      }),
    network: z
      .object({
        intra: Tier.default('off'),
        inter: Tier.default('off'),
        emulate: z.boolean().default(true),
        /**
         * A rank's emulated sends on one tier share one NIC, as a GPU's do (true); false gives every
         * rank pair its own link. Only traffic to several peers at once (all-to-all) tells the two apart.
         */
        sharedNic: z.boolean().default(true),
        /**
         * A real cluster the emulated run stands for: the launcher replaces intra/inter with the
         * cluster's links scaled by (this box's compute / the cluster's compute), so the run keeps
         * the target's compute-to-communication ratio.
         */
        target: TargetSchema.optional(),
      })
      .strict()
      .default({ intra: 'off', inter: 'off', emulate: true, sharedNic: true }),
    methods: z.array(MethodSchema).default([]),
    /**
     * Run the baselines and methods this many times, alternately, each on fresh ranks; speedups
     * are then medians over paired repetitions with a 95 % interval (app/repeats.ts).
     */
    repeat: z.number().int().min(1).max(20).default(1),
    /** Run the uncompressed FSDP baseline first (same seed, data and link) to compare against. */
    baseline: z.boolean().default(true),
    /**
     * Baselines to run first: the fp32 FSDP one (as `baseline`), FSDP reducing in bf16, and/or
     * FSDP gathering and reducing in bf16 ("bf16-mp": MixedPrecision(param_dtype=bf16,
     * reduce_dtype=bf16)).
     */
    baselines: z
      .array(z.enum(['fsdp', 'bf16', 'bf16-mp']))
      .max(3)
      .optional(),
    /** Numerical-health checks every step (engine/parallel/health.ts); older profiles get the defaults. */
    health: z
      .object({
        spikeFactor: z
          .number()
          .gt(1, 'use a factor above 1, e.g. 3: a loss 3x its recent mean is a spike')
          .default(HEALTH_DEFAULTS.spikeFactor),
        window: z.number().int().min(1).max(100_000).default(HEALTH_DEFAULTS.window),
        stopOnError: z.boolean().default(HEALTH_DEFAULTS.stopOnError),
        /**
         * The stall watchdog: a method that completes no step for this long is stopped and fails,
         * naming the rank that stopped responding or the link the ranks wait on.
         */
        stallTimeoutS: z
          .number()
          .int('use whole seconds')
          .min(5, 'use at least 5 s: a rank needs a few seconds to start')
          .max(86_400, 'use at most 86400 s (a day)')
          .default(STALL_TIMEOUT_DEFAULT_S),
      })
      .strict()
      .default({ ...HEALTH_DEFAULTS, stallTimeoutS: STALL_TIMEOUT_DEFAULT_S }),
    backend: z.enum(BACKENDS).default('auto'),
    engine: z.enum(ENGINES).default('builtin'),
    /** PyTorch engine options: shard the AdamW state with ZeroRedundancyOptimizer. */
    pytorch: z
      .object({ zero: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict();

export const ProfileSchema = ProfileSchemaBase.superRefine((p, ctx) => crossFieldChecks(p, ctx));

interface IssueSink {
  addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void;
}

type CrossFields = Pick<z.output<typeof ProfileSchemaBase>, 'parallel' | 'methods' | 'baseline'> &
  Partial<Pick<z.output<typeof ProfileSchemaBase>, 'model' | 'train' | 'engine' | 'network'>>;

/** Micro-batches a pipeline profile runs per step. */
export const microBatchesOf = (parallel: {
  pipelineStages: number;
  microBatches?: number;
}): number => parallel.microBatches ?? 2 * parallel.pipelineStages;

/** Pipeline layout checks: stages vs world and model, micro-batches vs batch, sharding. */
/** Reports each invalid method parameter under methods.<i>.params.<field>. */
function paramIssues(
  ctx: IssueSink,
  i: number,
  result: { success: true } | { success: false; error: z.ZodError },
): void {
  if (result.success) return;
  for (const issue of result.error.issues)
    ctx.addIssue({
      code: 'custom',
      path: ['methods', i, 'params', ...issue.path.map(String)],
      message: issue.message,
    });
}

function pipelineChecks(p: CrossFields, ctx: IssueSink): void {
  const { worldSize, sharding, pipelineStages } = p.parallel;
  const issue = (path: string[], message: string): void =>
    ctx.addIssue({ code: 'custom', path, message });
  if (pipelineStages === 1) {
    if (p.parallel.microBatches !== undefined && p.parallel.microBatches !== 1)
      issue(
        ['parallel', 'microBatches'],
        'micro-batches need pipelineStages > 1; remove the field',
      );
    return;
  }
  const layers = p.model
    ? 'preset' in p.model
      ? MODEL_PRESETS[p.model.preset].layers
      : p.model.layers
    : undefined;
  const problem = pipelineLayoutProblem(worldSize, pipelineStages, (layers ?? Infinity) + 2);
  if (problem) issue(['parallel', 'pipelineStages'], problem);
  if (sharding !== 'NO_SHARD')
    issue(
      ['parallel', 'sharding'],
      'pipeline stages replicate their parameters over the data-parallel ranks: set sharding to NO_SHARD',
    );
  const mb = microBatchesOf(p.parallel);
  if (p.train && p.train.batchPerRank % mb !== 0)
    issue(
      ['parallel', 'microBatches'],
      `batchPerRank (${p.train.batchPerRank}) must be divisible by the micro-batch count (${mb}${p.parallel.microBatches === undefined ? ', the default 2 x pipelineStages' : ''}); set parallel.microBatches`,
    );
}

/** `1, 2 or 4`. */
const orList = (xs: number[]): string =>
  xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}` : String(xs[0]);
const divisors = (n: number): number[] =>
  Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);

/** Checks that span fields (nodes vs world size, methods and their params). */
function crossFieldChecks(p: CrossFields, ctx: IssueSink): void {
  const { worldSize, nodes, sharding, pipelineStages } = p.parallel;
  if (worldSize % nodes !== 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['parallel', 'nodes'],
      message: `${plural(nodes, 'node')} cannot share ${plural(worldSize, 'rank')} evenly: use ${orList(divisors(worldSize))} node${worldSize === 1 ? '' : 's'}, or change the world size`,
    });
  }
  if (sharding === 'HYBRID_SHARD' && (nodes < 2 || worldSize / nodes < 2)) {
    ctx.addIssue({
      code: 'custom',
      path: ['parallel', 'sharding'],
      message:
        'HYBRID_SHARD needs at least 2 nodes with at least 2 ranks each (e.g. world size 4 on 2 nodes)',
    });
  }
  pipelineChecks(p, ctx);
  if (p.engine === 'pytorch')
    for (const i of pytorchEngineIssues(p)) ctx.addIssue({ code: 'custom', ...i });
  p.methods.forEach((m, i) => {
    const declared = findMethod(m.id);
    if (declared?.kind === 'pipeline' || pipelineStages > 1) {
      if (declared?.kind !== 'pipeline')
        ctx.addIssue({
          code: 'custom',
          path: ['methods', i, 'id'],
          message: `with pipelineStages > 1 the methods compress pipeline traffic: use ${PIPELINE_METHOD_NAMES} (the baseline is the uncompressed pipeline)`,
        });
      else if (pipelineStages === 1)
        ctx.addIssue({
          code: 'custom',
          path: ['methods', i, 'id'],
          message: `${m.id} compresses pipeline traffic: set parallel.pipelineStages to 2 or more`,
        });
      else {
        paramIssues(ctx, i, declared.params.safeParse(m.params, PLAIN_ERRORS));
      }
      return;
    }
    // FSDP's fp32 reduction is a method only with compressed parameter gathers or hpZ.
    if (m.id === 'fsdp' && ((m.paramComm ?? p.parallel.paramComm) !== 'fp32' || m.hpz)) return;
    if (m.id === 'fsdp') {
      ctx.addIssue({
        code: 'custom',
        path: ['methods', i, 'id'],
        message: 'fsdp is the baseline: set "baseline": true instead of listing it',
      });
      return;
    }
    const info = METHODS.find((x) => x.id === m.id);
    if (!info) {
      ctx.addIssue({
        code: 'custom',
        path: ['methods', i, 'id'],
        message: `unknown method "${m.id}"; use one of ${METHODS.map((x) => x.id).join(', ')}`,
      });
      return;
    }
    paramIssues(ctx, i, info.params.safeParse(m.params, PLAIN_ERRORS));
    if (m.errorFeedback !== undefined && !ErrorFeedbackSchema.safeParse(m.errorFeedback).success) {
      ctx.addIssue({
        code: 'custom',
        path: ['methods', i, 'errorFeedback'],
        message: 'use "none", "ef" or {"mode": "econtrol", "eta": 0.5}',
      });
    }
  });
  if (!p.baseline && p.methods.length === 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['methods'],
      message: 'nothing to run: add a method or set baseline to true',
    });
  }
}

export type Profile = z.output<typeof ProfileSchema>;
export type ProfileInput = z.input<typeof ProfileSchema>;
export type MethodEntry = z.output<typeof MethodSchema>;

/** The API's profile type must stay a faithful view of the schema's output. */
export const asProfileDoc = (p: Profile): ProfileDoc => p;

/** One invalid field, `path` dotted (`parallel.worldSize`); '(profile)' for the whole. */
const issuePath = (path: readonly PropertyKey[]): string =>
  path.length ? path.map(String).join('.') : '(profile)';

/** One human-readable line per invalid field: `parallel.worldSize: ...`. */
export function formatIssues(err: z.ZodError): string[] {
  return err.issues.map((i) => `${issuePath(i.path)}: ${i.message}`);
}

export class ProfileError extends Error {
  override name = 'ProfileError';
  constructor(
    readonly problems: string[],
    source = 'profile',
    /** The same problems by field, for forms. */
    readonly issues: FieldIssue[] = [],
  ) {
    super(`invalid ${source}:\n  ${problems.join('\n  ')}`);
  }
}

/** Validates a profile, listing every invalid field (cross-field checks included). */
export function checkProfile(
  input: unknown,
): { ok: true; profile: Profile } | { ok: false; issues: FieldIssue[] } {
  // Structure first: the schema lets free-form parts through as they are.
  const shape = jsonShapeIssues(input, PROFILE_SHAPE);
  if (shape.length) return { ok: false, issues: shape };
  const r = ProfileSchema.safeParse(input, PLAIN_ERRORS);
  if (r.success) return { ok: true, profile: r.data };
  const issues = r.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message }));
  // When every field parsed, zod ran the cross-field checks itself: report each problem once.
  const seen = new Set(issues.map((i) => `${i.path}\u0000${i.message}`));
  const more = crossFieldIssues(input).filter((i) => !seen.has(`${i.path}\u0000${i.message}`));
  return { ok: false, issues: [...issues, ...more] };
}

export function parseProfile(input: unknown, source?: string): Profile {
  const r = checkProfile(input);
  if (r.ok) return r.profile;
  throw new ProfileError(
    r.issues.map((i) => `${i.path}: ${i.message}`),
    source,
    r.issues,
  );
}

/**
 * zod skips refinements while any field is invalid; run the cross-field checks on the parts that
 * did parse, so one pass reports every problem.
 */
function crossFieldIssues(input: unknown): FieldIssue[] {
  const raw = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const shape = ProfileSchemaBase.shape;
  const parallel = shape.parallel.safeParse(raw.parallel, PLAIN_ERRORS);
  const methods = shape.methods.safeParse(raw.methods, PLAIN_ERRORS);
  const model = shape.model.safeParse(raw.model, PLAIN_ERRORS);
  const train = shape.train.safeParse(raw.train, PLAIN_ERRORS);
  const engine = shape.engine.safeParse(raw.engine, PLAIN_ERRORS);
  const network = shape.network.safeParse(raw.network, PLAIN_ERRORS);
  if (!parallel.success || !methods.success) return [];
  const issues: FieldIssue[] = [];
  crossFieldChecks(
    {
      parallel: parallel.data,
      methods: methods.data,
      baseline: raw.baseline !== false,
      ...(model.success ? { model: model.data } : {}),
      ...(train.success ? { train: train.data } : {}),
      ...(engine.success ? { engine: engine.data } : {}),
      ...(network.success ? { network: network.data } : {}),
    },
    { addIssue: (i) => issues.push({ path: issuePath(i.path), message: i.message }) },
  );
  return issues;
}

/** Built-in profiles shipped with GradBench. */
export const BUILTIN_PROFILES: Record<string, ProfileInput> = {
  // The first thing a newcomer runs: compression beside FSDP on a link slow enough for it to
  // matter (the suite's crossover measured int8 1.23x and TAGC 1.17x at 10 Mb/s on this setup),
  // short enough to finish in about a minute on 2 cores.
  default: {
    name: 'default',
    description:
      'FSDP vs int8 and TAGC gradient compression on the nano GPT, 4 ranks as 2 nodes x 2, 10 Mb/s between the nodes (emulated): about a minute on 2 cores.',
    model: { preset: 'nano' },
    train: { steps: 20, batchPerRank: 4 },
    parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
    network: { intra: 'off', inter: { gbps: 0.01, latencyUs: 100 } },
    methods: [{ id: 'int8' }, { id: 'tagc' }],
  },
  quick: {
    name: 'quick',
    description: 'FSDP baseline on the nano GPT, 2 ranks, no emulation: a quick end-to-end check.',
    model: { preset: 'nano' },
    train: { steps: 30, batchPerRank: 8 },
    parallel: { worldSize: 2, nodes: 1, sharding: 'FULL_SHARD' },
  },
  'micro-1gbe': {
    name: 'micro-1gbe',
    description: 'micro GPT, 4 ranks as 2 nodes x 2, inter-node link emulated at 1 Gb/s.',
    model: { preset: 'micro' },
    train: { steps: 50, batchPerRank: 8 },
    parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
    network: { intra: 'off', inter: '1GbE' },
  },
  'nano-hybrid': {
    name: 'nano-hybrid',
    description: 'nano GPT with HYBRID_SHARD on 2 nodes x 2 ranks, 100 Mb/s between nodes.',
    model: { preset: 'nano' },
    train: { steps: 30, batchPerRank: 8 },
    parallel: { worldSize: 4, nodes: 2, sharding: 'HYBRID_SHARD' },
    network: { intra: 'off', inter: { gbps: 0.1, latencyUs: 100 } },
  },
};
