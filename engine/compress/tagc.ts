/**
 * TAGC (Polyakov, Dukhanov, Spirin 2025): transformer-aware gradient compression for sharded
 * training, on top of the LHC sketch (see sketch-flow.ts for the sharded flow):
 * - dynamic sparsification: each step, the smallest threshold on a fixed ladder (1e-20 ... 0.5,
 *   x2.25 steps), found by bisection, below which at least `sparsifyFraction` of the values fall;
 *   those are dropped (error feedback keeps them for the next step);
 * - layer-selective compression: a policy per layer class (embedding, attention, mlp, norm, head)
 *   plus a size threshold; the default follows the reference (compress the large non-attention
 *   layers, send attention and norms exact); `compressAll` overrides it.
 */
import type { ParamClass } from '../model/gpt.js';
import {
  roundsOnlyCodec,
  type Compressor,
  type RoundsIo,
  type RoundsResult,
  type Segment,
} from './compressor.js';
import { sketchFlow, type SketchStats } from './sketch-flow.js';

export const THRESHOLD_LADDER: number[] = (() => {
  const out: number[] = [];
  for (let t = 1e-20; t < 0.5; t *= 2.25) out.push(t);
  out.push(0.5);
  return out;
})();

/** Fraction of |x| strictly below t. */
function fractionBelow(x: Float32Array, t: number): number {
  let c = 0;
  for (let i = 0; i < x.length; i++) if (x[i] < t && x[i] > -t) c++;
  return c / Math.max(1, x.length);
}

/** The smallest ladder threshold dropping at least `fraction` of x (bisection over the ladder). */
export function ladderThreshold(x: Float32Array, fraction: number): number {
  let lo = 0;
  let hi = THRESHOLD_LADDER.length - 1;
  if (fractionBelow(x, THRESHOLD_LADDER[hi]) < fraction) return THRESHOLD_LADDER[hi];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fractionBelow(x, THRESHOLD_LADDER[mid]) >= fraction) hi = mid;
    else lo = mid + 1;
  }
  return THRESHOLD_LADDER[lo];
}

export function dynamicSparsify(fraction: number): (x: Float32Array) => Float32Array {
  return (x) => {
    const t = ladderThreshold(x, fraction);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) if (!(x[i] < t && x[i] > -t)) out[i] = x[i];
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
}

export function createTagc(o: TagcOptions): Compressor & { lastStats?: SketchStats } {
  const c: Compressor & { lastStats?: SketchStats } = {
    id: 'tagc',
    pattern: 'rounds',
    sparse: true,
    ...roundsOnlyCodec('tagc'),
    communicate: async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
      const r = await sketchFlow(p, io, {
        sharded: true,
        sparsify: dynamicSparsify(o.sparsifyFraction),
        indexGroup: o.indexBits === 1 ? 1 : 4,
        compressRatio: o.compressRatio,
        compresses: (s) => policyCompresses(o.policy, s),
      });
      c.lastStats = r.stats;
      return r;
    },
  };
  return c;
}
