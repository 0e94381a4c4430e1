/**
 * Every compression method, its parameters (zod, with defaults) and how to build it. The UI
 * renders its forms from this list; a new method is one file plus one entry here.
 */
import { z } from 'zod';
import { createBf16 } from './bf16.js';
import { createBlockwiseInt } from './blockwise-int.js';
import type { CollectivePattern, Compressor } from './compressor.js';
import { createDgc } from './dgc.js';
import { createFp16 } from './fp16.js';
import { createLhc } from './lhc.js';
import { DEFAULT_POLICY, createTagc } from './tagc.js';
import { createPowerSgd } from './powersgd.js';
import { createQgz } from './qgz.js';
import { createQsgd } from './qsgd.js';
import { createRandomK } from './randomk.js';
import { createSignSgd } from './signsgd.js';
import { createTernGrad } from './terngrad.js';
import { createTopK } from './topk.js';

export type EfModeName = 'none' | 'ef' | 'econtrol';

export interface MethodInfo {
  id: string;
  label: string;
  description: string;
  pattern: CollectivePattern;
  params: z.ZodObject;
  /** Error feedback used unless the profile says otherwise. */
  defaultErrorFeedback: EfModeName;
  create(
    params: Record<string, unknown>,
    env: { world: number; warmupSteps: number; gradClip: number; ranksPerNode?: number },
  ): Compressor;
}

const ratio = (d: number) => z.number().gt(0).max(1).default(d);
const block = z.number().int().min(8).max(65536).default(256);
const scale = z.enum(['per-rank', 'agreed']).default('per-rank');

export const METHODS: MethodInfo[] = [
  {
    id: 'fp16',
    label: 'fp16',
    description: 'IEEE half precision on the wire, summed in f32 at every hop',
    pattern: 'reduce-scatter',
    params: z.object({}).strict(),
    defaultErrorFeedback: 'none',
    create: () => createFp16(),
  },
  {
    id: 'bf16',
    label: 'bf16',
    description: 'bfloat16 on the wire (f32 range, 8-bit mantissa), summed in f32 at every hop',
    pattern: 'reduce-scatter',
    params: z.object({}).strict(),
    defaultErrorFeedback: 'none',
    create: () => createBf16(),
  },
  {
    id: 'int8',
    label: 'int8 blockwise',
    description:
      'int8 codes with a max-abs scale per block; per-rank scales (all-to-all) or agreed scales (int32 sums)',
    pattern: 'all-to-all',
    params: z.object({ block, scale }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) =>
      createBlockwiseInt('int8', {
        bits: 8,
        block: p.block as number,
        scale: p.scale as 'per-rank' | 'agreed',
      }),
  },
  {
    id: 'int4',
    label: 'int4 blockwise',
    description: 'int4 codes (two per byte) with a max-abs scale per block',
    pattern: 'all-to-all',
    params: z.object({ block, scale }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) =>
      createBlockwiseInt('int4', {
        bits: 4,
        block: p.block as number,
        scale: p.scale as 'per-rank' | 'agreed',
      }),
  },
  {
    id: 'topk',
    label: 'top-k',
    description: 'the k = ratio * n largest magnitudes as (index, value) pairs',
    pattern: 'all-to-all',
    params: z.object({ ratio: ratio(0.01) }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createTopK(p.ratio as number),
  },
  {
    id: 'randomk',
    label: 'random-k',
    description:
      'k = ratio * n positions shared by all ranks (seeded), values summed by reduce-scatter',
    pattern: 'rounds',
    params: z.object({ ratio: ratio(0.01) }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createRandomK(p.ratio as number),
  },
  {
    id: 'dgc',
    label: 'DGC',
    description:
      'Deep Gradient Compression: local accumulation with momentum correction (off by default: AdamW keeps the momentum), factor masking, local clipping, sparsity warm-up',
    pattern: 'all-to-all',
    params: z
      .object({
        sparsity: z.number().gt(0).lt(1).default(0.999),
        // The trainer's AdamW keeps its own first moment (beta1 0.9) after aggregation; DGC's
        // momentum correction on top would apply momentum twice, so it is off unless asked for.
        momentum: z.number().min(0).lt(1).default(0),
        warmupSteps: z.number().int().min(0).optional(),
        sampleRatio: z.number().gt(0).max(1).default(0.01),
      })
      .strict(),
    defaultErrorFeedback: 'none',
    create: (p, env) =>
      createDgc({
        sparsity: p.sparsity as number,
        momentum: p.momentum as number,
        warmupSteps: (p.warmupSteps as number | undefined) ?? Math.max(env.warmupSteps, 1) * 4,
        sampleRatio: p.sampleRatio as number,
        clipNorm: env.gradClip,
        world: env.world,
      }),
  },
  {
    id: 'powersgd',
    label: 'PowerSGD',
    description: 'rank-r factors P and Q of every weight matrix, all-reduced; vectors uncompressed',
    pattern: 'rounds',
    params: z.object({ rank: z.number().int().min(1).max(8).default(4) }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createPowerSgd(p.rank as number),
  },
  {
    id: 'signsgd',
    label: 'signSGD (1-bit)',
    description: 'sign bits plus the mean magnitude per block (EF-SignSGD)',
    pattern: 'all-to-all',
    params: z.object({ block }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createSignSgd(p.block as number),
  },
  {
    id: 'qsgd',
    label: 'QSGD',
    description: 'stochastic rounding to s levels of the bucket norm (unbiased)',
    pattern: 'all-to-all',
    params: z
      .object({
        levels: z.number().int().min(1).max(127).default(16),
        bucket: z.number().int().min(8).default(512),
      })
      .strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createQsgd(p.levels as number, p.bucket as number),
  },
  {
    id: 'terngrad',
    label: 'TernGrad',
    description: 'ternary {-s, 0, +s} with Bernoulli(|p| / s) (unbiased), 2 bits per value',
    pattern: 'all-to-all',
    params: z.object({ bucket: z.number().int().min(8).default(512) }).strict(),
    defaultErrorFeedback: 'ef',
    create: (p) => createTernGrad(p.bucket as number),
  },
  {
    id: 'qgz',
    label: 'qgZ (hierarchical int8/int4)',
    description:
      'ZeRO++ qgZ: blockwise-quantised all-to-all inside each node, then across nodes between the ranks at the same position; each element crosses nodes once, quantised',
    pattern: 'rounds',
    params: z.object({ bits: z.union([z.literal(8), z.literal(4)]).default(8), block }).strict(),
    defaultErrorFeedback: 'none',
    create: (p, env) =>
      createQgz({
        bits: p.bits as 8 | 4,
        block: p.block as number,
        ranksPerNode: env.ranksPerNode ?? env.world,
      }),
  },
];

const action = (d: 'compress' | 'fp32') => z.enum(['compress', 'fp32']).default(d);
const indexBits = z.union([z.literal(1), z.literal(4)]).default(1);
const compressRatio = z.number().min(1).max(64).default(2);

METHODS.push(
  {
    id: 'lhc',
    label: 'LHC',
    description:
      'lossless homomorphic compression: top-density values as bitmap index (OR) + count sketch (summed), peeled on decode',
    pattern: 'rounds',
    params: z
      .object({ density: z.number().gt(0).max(1).default(0.2), indexBits, compressRatio })
      .strict(),
    defaultErrorFeedback: 'ef',
    create: (p) =>
      createLhc({
        density: p.density as number,
        indexBits: p.indexBits as 1 | 4,
        compressRatio: p.compressRatio as number,
      }),
  },
  {
    id: 'tagc',
    label: 'TAGC',
    description:
      'transformer-aware gradient compression: LHC per shard owner (sketch reduced to the owner), dynamic sparsification, layer-selective policy',
    pattern: 'rounds',
    params: z
      .object({
        sparsifyFraction: z.number().gt(0).lt(1).default(0.8),
        indexBits,
        compressRatio,
        compressAll: z.boolean().default(false),
        minSize: z.number().int().min(0).default(DEFAULT_POLICY.minSize),
        embedding: action(DEFAULT_POLICY.classes.embedding),
        attention: action(DEFAULT_POLICY.classes.attention),
        mlp: action(DEFAULT_POLICY.classes.mlp),
        norm: action(DEFAULT_POLICY.classes.norm),
        head: action(DEFAULT_POLICY.classes.head),
      })
      .strict(),
    defaultErrorFeedback: 'ef',
    create: (p) =>
      createTagc({
        sparsifyFraction: p.sparsifyFraction as number,
        indexBits: p.indexBits as 1 | 4,
        compressRatio: p.compressRatio as number,
        policy: {
          compressAll: p.compressAll as boolean,
          minSize: p.minSize as number,
          classes: {
            embedding: p.embedding as 'compress',
            attention: p.attention as 'compress',
            mlp: p.mlp as 'compress',
            norm: p.norm as 'compress',
            head: p.head as 'compress',
          },
        },
      }),
  },
);

export const METHOD_IDS = ['fsdp', ...METHODS.map((m) => m.id)];

export function methodInfo(id: string): MethodInfo {
  const m = METHODS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown method "${id}"; available: ${METHOD_IDS.join(', ')}`);
  return m;
}

export const ErrorFeedbackSchema = z.union([
  z.enum(['none', 'ef']),
  z.object({ mode: z.enum(['none', 'ef']) }).strict(),
  z.object({ mode: z.literal('econtrol'), eta: z.number().gt(0).max(1).default(0.5) }).strict(),
]);
export type ErrorFeedbackSetting = z.output<typeof ErrorFeedbackSchema>;

/** Validates a method's params, naming the method and field on error. */
export function parseMethodParams(id: string, params: unknown): Record<string, unknown> {
  const r = methodInfo(id).params.safeParse(params ?? {});
  if (!r.success) {
    throw new Error(
      r.error.issues
        .map((i) => `methods[${id}].params.${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('\n'),
    );
  }
  return r.data as Record<string, unknown>;
}
