/**
 * Deep Gradient Compression (Lin et al., ICLR 2018), per tensor:
 *   1. local gradient clipping to `clipNorm * sqrt(world)` (see `localClipNorm`);
 *   2. momentum correction: u <- m*u + g;  v <- v + u   (v accumulates what was not sent);
 *   3. threshold from a sample of |v| (about 1 %), then exact top-k among the candidates;
 *   4. send v at the selected positions; momentum factor masking: zero u and v there;
 *   5. sparsity warm-up: 75 %, 93.75 %, 98.4375 %, 99.6 %, then the final sparsity.
 * v is DGC's own error accumulation, so it runs without the generic error feedback.
 *
 * Momentum correction moves a momentum-SGD optimizer's momentum in front of the sparsification
 * (the paper's optimizer then applies none). This engine's optimizer is AdamW, which keeps its own
 * first moment of the aggregated gradient; with m > 0 here as well, every gradient goes through
 * two momentum filters (larger, later steps on the coordinates that waited longest). The registry
 * therefore defaults m to 0: v then accumulates the clipped gradient, and masking, clipping,
 * warm-up and the sampled threshold work as in the paper.
 */
import { rng } from '../../util/rng.js';
import type { CodecContext, Compressor } from '../compressor.js';
import {
  kthLargest,
  sparseDecode,
  sparseEncode,
  topKAtOrAbove,
  topKIndices,
} from '../bits/select.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

export interface DgcOptions {
  sparsity: number;
  momentum: number;
  clipNorm: number;
  warmupSteps: number;
  world: number;
  sampleRatio: number;
}

const WARMUP_SCHEDULE = [0.75, 0.9375, 0.984375, 0.996];

export function dgcSparsity(step: number, o: Pick<DgcOptions, 'sparsity' | 'warmupSteps'>): number {
  if (step >= o.warmupSteps || o.warmupSteps === 0) return o.sparsity;
  const phase = Math.floor((step / o.warmupSteps) * WARMUP_SCHEDULE.length);
  return Math.min(o.sparsity, WARMUP_SCHEDULE[phase]);
}

/**
 * The local clipping threshold. The paper clips each node's share G_k = (local mean) / N of the
 * summed gradient at clipNorm / sqrt(N). Here a rank hands over its local mean and the trainer
 * clips the world mean at clipNorm, so the same rule on the local mean is clipNorm * sqrt(N).
 */
export const localClipNorm = (clipNorm: number, world: number): number =>
  clipNorm * Math.sqrt(world);

/** Positions of the k largest |v|: a sampled threshold narrows the candidates, then exact top-k. */
function select(v: Float32Array, k: number, sampleRatio: number, seed: number): Uint32Array {
  const n = v.length;
  const samples = Math.min(n, Math.max(100, Math.ceil(n * sampleRatio)));
  if (samples >= n / 2) return topKIndices(v, k);
  const r = rng(seed);
  const s = new Float32Array(samples);
  for (let i = 0; i < samples; i++) s[i] = Math.abs(v[Math.floor(r() * n)]);
  // Aim a little low so the candidates almost always cover k.
  const thr = kthLargest(s, Math.max(1, Math.floor((k / n) * samples * 0.8)));
  return topKAtOrAbove(v, k, thr) ?? topKIndices(v, k);
}

export function createDgc(o: DgcOptions): Compressor {
  const state = new Map<string, { u: Float32Array; v: Float32Array }>();
  const encode = (g: Float32Array, ctx: CodecContext): Uint8Array => {
    let st = state.get(ctx.key);
    if (!st || st.u.length !== g.length) {
      st = { u: new Float32Array(g.length), v: new Float32Array(g.length) };
      state.set(ctx.key, st);
    }
    const { u, v } = st;
    // Step 1: local clipping.
    let sq = 0;
    for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    const limit = localClipNorm(o.clipNorm, o.world);
    const scale = sq > limit * limit ? limit / Math.sqrt(sq) : 1;
    // Step 2: momentum correction.
    for (let i = 0; i < g.length; i++) {
      u[i] = o.momentum * u[i] + g[i] * scale;
      v[i] += u[i];
    }
    // Step 3: select.
    const k = Math.max(1, Math.ceil((1 - dgcSparsity(ctx.step, o)) * g.length));
    const idx = select(v, k, o.sampleRatio, ctx.localSeed);
    const payload = sparseEncode(idx, v);
    // Step 4: momentum factor masking.
    for (const i of idx) {
      u[i] = 0;
      v[i] = 0;
    }
    return payload;
  };
  return {
    id: 'dgc',
    pattern: 'all-to-all',
    sparse: true,
    encode,
    decode: (payload, n) => sparseDecode(payload, n),
  };
}

export const dgc = defineMethod({
  kind: 'gradient',
  id: 'dgc',
  order: 70,
  label: 'DGC',
  description:
    'Deep Gradient Compression: local accumulation with momentum correction (off by default: AdamW keeps the momentum), factor masking, local clipping, sparsity warm-up',
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
  pattern: () => 'all-to-all',
  create: (p, env) =>
    createDgc({
      sparsity: p.sparsity,
      momentum: p.momentum,
      warmupSteps: p.warmupSteps ?? Math.max(env.warmupSteps, 1) * 4,
      sampleRatio: p.sampleRatio,
      clipNorm: env.gradClip,
      world: env.world,
    }),
});
