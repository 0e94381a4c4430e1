/**
 * TAGC (Polyakov, Dukhanov, Spirin 2025): transformer-aware gradient compression for sharded
 * training, on top of the LHC sketch (see sketch-flow.ts for the sharded flow):
 * - dynamic sparsification: each step, the smallest threshold on a fixed ladder (1e-20 ... 0.5,
 *   x2.25 steps), found by bisection, below which at least `sparsifyFraction` of the values fall;
 *   those are dropped (error feedback keeps them for the next step);
 * - layer-selective compression: a policy per layer class (embedding, attention, mlp, norm, head)
 *   plus a size threshold; the default follows the reference (compress the large non-attention
 *   layers, send attention and norms exact); `compressAll` overrides it;
 * - `byNode` (default on): on two or more nodes of two or more ranks, the owners' parts are merged
 *   inside each node before they cross nodes, so each node's sum crosses once (the reference sends
 *   every part straight to its owner, which `byNode: false` keeps).
 */
import type { ParamClass } from '../../model/gpt.js';
import {
  roundsOnlyCodec,
  type Compressor,
  type RoundsIo,
  type RoundsResult,
  type Segment,
} from '../compressor.js';
import { SketchFlowState, sketchFlow } from '../sketch/sketch-flow.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { indexBitsParam, compressRatioParam } from '../param-fields.js';

export const THRESHOLD_LADDER: number[] = (() => {
  const out: number[] = [];
  for (let t = 1e-20; t < 0.5; t *= 2.25) out.push(t);
  out.push(0.5);
  return out;
})();

/**
 * Bit patterns of the rungs as float32: the smallest float32 not below each rung, so that for a
 * float32 magnitude a, a < rung exactly when bits(a) < RUNG_BITS[k] (positive floats order like
 * their bit patterns).
 */
const RUNG_BITS: Uint32Array = (() => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return Uint32Array.from(THRESHOLD_LADDER, (t) => {
    f[0] = t;
    if (f[0] < t) u[0]++;
    return u[0];
  });
})();

/** Float32 exponent field of each rung (rungs are more than 2x apart: one per exponent at most). */
const RUNG_EXPONENTS: Uint32Array = RUNG_BITS.map((b) => b >>> 23);

const exponentCounts = new Float64Array(256);

/**
 * The smallest ladder threshold dropping at least `fraction` of x (values with |v| < threshold),
 * or the top rung when none does: what a bisection over the ladder finds, in two cheap passes
 * instead of one pass per probe. Pass 1 counts magnitudes per float exponent, which brackets every
 * rung's count between the values of lower exponents and those up to its own; only the first rung
 * whose bracket reaches the target can be undecided, and pass 2 counts its own exponent exactly.
 */
export function ladderThreshold(x: Float32Array, fraction: number): number {
  // An int32 view: uint32 loads above 2^31 would leave V8's small-integer path for doubles.
  const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
  const counts = exponentCounts.fill(0);
  for (let i = 0; i < bits.length; i++) counts[(bits[i] >>> 23) & 0xff]++; // NaN/inf: exponent 255
  const n = Math.max(1, x.length);
  const L = THRESHOLD_LADDER.length;
  let lower = 0; // values of exponents below the current rung's
  let e = 0;
  for (let k = 0; k < L; k++) {
    const ek = RUNG_EXPONENTS[k];
    for (; e < ek; e++) lower += counts[e];
    if ((lower + counts[ek]) / n < fraction) continue; // even its whole exponent is not enough
    if (lower / n >= fraction) return THRESHOLD_LADDER[k];
    const below = lower + countInRange(bits, ek << 23, RUNG_BITS[k]);
    return below / n >= fraction ? THRESHOLD_LADDER[k] : THRESHOLD_LADDER[Math.min(k + 1, L - 1)];
  }
  return THRESHOLD_LADDER[L - 1];
}

/**
 * How many |x| bit patterns lie in [lo, hi) (both below 2^31). Branch-free: the rung splits its
 * exponent's values about evenly, so a branch there mispredicts on random data and cost 3x.
 */
function countInRange(bits: Int32Array, lo: number, hi: number): number {
  let c = 0;
  for (let i = 0; i < bits.length; i++) {
    const a = bits[i] & 0x7fffffff;
    c += ((a - hi) >> 31) & ~((a - lo) >> 31) & 1; // sign bits: a < hi and not a < lo
  }
  return c;
}

/** Zeroes, in place, the values below the ladder threshold for `fraction`. */
export function dropBelowLadder(fraction: number): (x: Float32Array) => void {
  return (x) => {
    const t = ladderThreshold(x, fraction);
    for (let i = 0; i < x.length; i++) if (x[i] < t && x[i] > -t) x[i] = 0;
  };
}

/** A sparsified copy of x (what `dropBelowLadder` leaves). */
export function dynamicSparsify(fraction: number): (x: Float32Array) => Float32Array {
  const drop = dropBelowLadder(fraction);
  return (x) => {
    const out = x.slice();
    drop(out);
    return out;
  };
}

export type LayerAction = 'compress' | 'fp32';
export interface LayerPolicy {
  classes: Record<ParamClass, LayerAction>;
  /** Segments smaller than this many values are sent exact. */
  minSize: number;
  compressAll: boolean;
}

/** The reference's choice: large non-attention layers compressed, attention and norms exact. */
export const DEFAULT_POLICY: LayerPolicy = {
  classes: {
    embedding: 'compress',
    attention: 'fp32',
    mlp: 'compress',
    norm: 'fp32',
    head: 'compress',
  },
  minSize: 4096,
  compressAll: false,
};

export function policyCompresses(
  policy: LayerPolicy,
  segment: Segment & { cls?: ParamClass },
): boolean {
  if (policy.compressAll) return true;
  const size = segment.shape.reduce((a, b) => a * b, 1);
  return (
    size >= policy.minSize &&
    segment.cls !== undefined &&
    policy.classes[segment.cls] === 'compress'
  );
}

export interface TagcOptions {
  sparsifyFraction: number;
  indexBits: 1 | 4;
  compressRatio: number;
  policy: LayerPolicy;
  /** Merge the parts inside each node before they cross nodes (see sketch-flow.ts), with this many ranks per node. */
  ranksPerNode?: number;
}

export function createTagc(o: TagcOptions): Compressor {
  const state = new SketchFlowState();
  const threshold = (x: Float32Array): number => ladderThreshold(x, o.sparsifyFraction);
  return {
    id: 'tagc',
    pattern: 'rounds',
    sparse: true,
    ...roundsOnlyCodec('tagc'),
    communicate: (p: Float32Array, io: RoundsIo): Promise<RoundsResult> =>
      sketchFlow(
        p,
        io,
        {
          sharded: true,
          threshold,
          indexGroup: o.indexBits === 1 ? 1 : 4,
          compressRatio: o.compressRatio,
          compresses: (s) => policyCompresses(o.policy, s),
          ranksPerNode: o.ranksPerNode,
        },
        state,
      ),
  };
}

const action = (d: LayerAction) => z.enum(['compress', 'fp32']).default(d);

export const tagc = defineMethod({
  kind: 'gradient',
  id: 'tagc',
  order: 140,
  label: 'TAGC',
  description:
    'transformer-aware gradient compression: LHC per shard owner (sketch reduced to the owner), dynamic sparsification, layer-selective policy',
  params: z
    .object({
      sparsifyFraction: z.number().gt(0).lt(1).default(0.8),
      indexBits: indexBitsParam,
      compressRatio: compressRatioParam,
      compressAll: z.boolean().default(false),
      byNode: z.boolean().default(true),
      minSize: z.number().int().min(0).default(DEFAULT_POLICY.minSize),
      embedding: action(DEFAULT_POLICY.classes.embedding),
      attention: action(DEFAULT_POLICY.classes.attention),
      mlp: action(DEFAULT_POLICY.classes.mlp),
      norm: action(DEFAULT_POLICY.classes.norm),
      head: action(DEFAULT_POLICY.classes.head),
    })
    .strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'rounds',
  // Sharded sketch flow: one all-to-all per unit, or one inside each node and one across (and a
  // scale all-reduce on a unit's first step).
  travelsAs: (p) => (p.byNode ? 'hierarchical-all-to-all' : 'all-to-all'),
  create: (p, env) =>
    createTagc({
      ranksPerNode: p.byNode ? env.ranksPerNode : undefined,
      sparsifyFraction: p.sparsifyFraction,
      indexBits: p.indexBits,
      compressRatio: p.compressRatio,
      policy: {
        compressAll: p.compressAll,
        minSize: p.minSize,
        classes: {
          embedding: p.embedding,
          attention: p.attention,
          mlp: p.mlp,
          norm: p.norm,
          head: p.head,
        },
      },
    }),
});
