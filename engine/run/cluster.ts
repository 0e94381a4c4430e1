/**
 * Cluster descriptions to project onto: a zod schema (every invalid field named) and presets for
 * common machines. Link tiers accept GradBench's link presets (NVLink, IB200, 25GbE, ...) or
 * `{ gbps, latencyUs }`; the model a preset name or GPT dimensions.
 */
import { z } from 'zod';
import { LINK_PRESETS, LinkSpecSchema } from '../comm/emulation.js';
import { MODEL_PRESETS } from '../model/gpt.js';
import type { ClusterSpec, ModelDims } from './projection-types.js';

const LINK_NAMES = Object.keys(LINK_PRESETS) as [string, ...string[]];
const MODEL_NAMES = Object.keys(MODEL_PRESETS) as [string, ...string[]];
const SHARDING = ['FULL_SHARD', 'SHARD_GRAD_OP', 'NO_SHARD', 'HYBRID_SHARD'] as const;

const TierSchema = z.union([z.enum(LINK_NAMES), LinkSpecSchema.strict()], {
  error: `use a link preset (${LINK_NAMES.join(', ')}) or { "gbps": number, "latencyUs": number }`,
});

const DimsSchema = z
  .object({
    layers: z.number().int().min(1).max(1000),
    dModel: z.number().int().min(8).max(65536),
    heads: z.number().int().min(1).max(1024),
    seqLen: z.number().int().min(2).max(1_000_000),
    vocab: z.number().int().min(2).max(1_000_000),
    tied: z.boolean().default(false),
  })
  .strict()
  .refine((m) => m.dModel % m.heads === 0, {
    message: 'dModel must be divisible by heads',
    path: ['heads'],
  });

/** Larger GPTs a cluster may name by dimension, for "what would a 1.3 B model do" questions. */
export const LARGE_MODELS: Record<string, ModelDims> = {
  'gpt2-1.5b': { layers: 48, dModel: 1600, heads: 25, seqLen: 1024, vocab: 50257, tied: true },
  'llama-7b-like': { layers: 32, dModel: 4096, heads: 32, seqLen: 2048, vocab: 32000, tied: false },
};

/** A preset name (its vocabulary: GPT-2's 50257 unless the preset fixes one) or dimensions. */
const ModelSchema = z.union([z.enum([...MODEL_NAMES, ...Object.keys(LARGE_MODELS)]), DimsSchema], {
  error: `use a model preset (${[...MODEL_NAMES, ...Object.keys(LARGE_MODELS)].join(', ')}) or { layers, dModel, heads, seqLen, vocab }`,
});

export const ClusterSchema = z
  .object({
    name: z.string().min(1).max(80).default('custom'),
    description: z.string().max(500).optional(),
    nodes: z.number().int().min(1).max(100_000),
    gpusPerNode: z.number().int().min(1).max(1024),
    gpu: z
      .object({
        name: z.string().max(80).optional(),
        tflops: z.number().positive().max(1_000_000),
        efficiency: z.number().gt(0).max(1).default(0.4),
      })
      .strict()
      .optional(),
    intra: TierSchema.default('NVLink'),
    inter: TierSchema,
    sharedNic: z.boolean().default(true),
    model: ModelSchema.optional(),
    batchPerGpu: z.number().int().min(1).max(1_000_000).optional(),
    sharding: z.enum(SHARDING).optional(),
  })
  .strict();
export type ClusterInput = z.input<typeof ClusterSchema>;

/** GPT dimensions of a model preset; presets without a fixed vocabulary get GPT-2's. */
export function presetDims(name: string, vocab = 50257): ModelDims {
  const p = (MODEL_PRESETS as Record<string, (typeof MODEL_PRESETS)[keyof typeof MODEL_PRESETS]>)[
    name
  ];
  if (!p) throw new Error(`unknown model preset "${name}"; use one of ${MODEL_NAMES.join(', ')}`);
  return {
    layers: p.layers,
    dModel: p.dModel,
    heads: p.heads,
    seqLen: p.seqLen,
    vocab: 'vocab' in p ? p.vocab : vocab,
    tied: false,
  };
}

/** Peak dense tensor throughput, bf16 inputs (vendor figures). */
const A100 = { name: 'A100', tflops: 312, efficiency: 0.45 };
const H100 = { name: 'H100 SXM', tflops: 989, efficiency: 0.4 };
const RTX4090 = { name: 'RTX 4090', tflops: 165, efficiency: 0.35 };
/**
 * An A100 on GradBench's own small GPTs (nano, micro): kernel launches, not FLOPs, bound a step,
 * so it sustains ~0.19 TFLOP/s (0.06 % of peak). With it a ratio-preserving emulation slows this
 * box's links by ~10^2 instead of ~10^5, which the emulator can pace.
 */
const A100_SMALL_GPT = { name: 'A100 (small GPT, launch-bound)', tflops: 312, efficiency: 0.0006 };

export const CLUSTER_PRESETS: Record<string, ClusterInput> = {
  'dgx-a100-ib200': {
    name: 'dgx-a100-ib200',
    description: '4 DGX A100 nodes x 8 GPUs, NVLink inside, one 200 Gb/s InfiniBand NIC per GPU',
    nodes: 4,
    gpusPerNode: 8,
    gpu: A100,
    intra: 'NVLink',
    inter: 'IB200',
  },
  'dgx-h100-ib400': {
    name: 'dgx-h100-ib400',
    description: '4 DGX H100 nodes x 8 GPUs, NVLink 4 inside, one 400 Gb/s NIC per GPU',
    nodes: 4,
    gpusPerNode: 8,
    gpu: H100,
    intra: { gbps: 3600, latencyUs: 2 },
    inter: { gbps: 400, latencyUs: 2 },
  },
  '8x-rtx4090-25gbe': {
    name: '8x-rtx4090-25gbe',
    description: '8 workstations with one RTX 4090 each, 25 Gb/s Ethernet',
    nodes: 8,
    gpusPerNode: 1,
    gpu: RTX4090,
    intra: 'PCIe4x16',
    inter: '25GbE',
  },
  '2x4-a100-100gbe': {
    name: '2x4-a100-100gbe',
    description: '2 servers x 4 A100 (PCIe 4), 100 Gb/s Ethernet shared by the node',
    nodes: 2,
    gpusPerNode: 4,
    gpu: A100,
    intra: 'PCIe4x16',
    inter: { gbps: 25, latencyUs: 10 }, // 100GbE shared by 4 GPUs: 25 Gb/s each
  },
  '2x2-a100-1gbe-small-gpt': {
    name: '2x2-a100-1gbe-small-gpt',
    description:
      '2 servers x 2 A100 (PCIe 4 inside), 1 Gb/s Ethernet between them; the A100s sustaining ~0.19 TFLOP/s on a small GPT (launch-bound)',
    nodes: 2,
    gpusPerNode: 2,
    gpu: A100_SMALL_GPT,
    intra: 'PCIe4x16',
    inter: '1GbE',
  },
  '2x1-a100-10gbe': {
    name: '2x1-a100-10gbe',
    description: '2 servers with one A100 each, 10 Gb/s Ethernet',
    nodes: 2,
    gpusPerNode: 1,
    gpu: A100,
    intra: 'PCIe4x16',
    inter: '10GbE',
  },
  '4x1-a100-1gbe': {
    name: '4x1-a100-1gbe',
    description: '4 servers with one A100 each, 1 Gb/s Ethernet (an office network)',
    nodes: 4,
    gpusPerNode: 1,
    gpu: A100,
    intra: 'PCIe4x16',
    inter: '1GbE',
  },
};
export const CLUSTER_PRESET_NAMES = Object.keys(CLUSTER_PRESETS);

export class ClusterError extends Error {
  override name = 'ClusterError';
}

const tierSpec = (t: z.output<typeof TierSchema>) =>
  typeof t === 'string'
    ? { ...(LINK_PRESETS as Record<string, z.output<typeof LinkSpecSchema>>)[t] }
    : t;

function modelDims(m: z.output<typeof ModelSchema>): ModelDims {
  if (typeof m !== 'string') return m;
  return LARGE_MODELS[m] ?? presetDims(m);
}

/** Validates a cluster description (or a preset name); errors name every invalid field. */
export function resolveCluster(input: unknown, source = 'cluster'): ClusterSpec {
  if (typeof input === 'string') {
    const preset = CLUSTER_PRESETS[input];
    if (!preset || !Object.hasOwn(CLUSTER_PRESETS, input))
      throw new ClusterError(
        `unknown cluster preset "${input}"; use one of ${CLUSTER_PRESET_NAMES.join(', ')} or a JSON file`,
      );
    input = preset;
  }
  const r = ClusterSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map(
      (i) => `${i.path.length ? i.path.map(String).join('.') : '(cluster)'}: ${i.message}`,
    );
    throw new ClusterError(`invalid ${source}:\n  ${lines.join('\n  ')}`);
  }
  const c = r.data;
  return {
    name: c.name,
    ...(c.description ? { description: c.description } : {}),
    nodes: c.nodes,
    gpusPerNode: c.gpusPerNode,
    ...(c.gpu ? { gpu: c.gpu } : {}),
    intra: tierSpec(c.intra),
    inter: tierSpec(c.inter),
    sharedNic: c.sharedNic,
    ...(c.model !== undefined ? { model: modelDims(c.model) } : {}),
    ...(c.batchPerGpu ? { batchPerGpu: c.batchPerGpu } : {}),
    ...(c.sharding ? { sharding: c.sharding } : {}),
  };
}
