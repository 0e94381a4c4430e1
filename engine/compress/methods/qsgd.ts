/**
 * QSGD (Alistarh et al. 2017): per bucket, q_i = ||p|| * sign(p_i) * xi_i / s with xi_i the
 * stochastic rounding of s * |p_i| / ||p|| to an integer level; E[q] = p (unbiased).
 */
import { rng } from '../../util/rng.js';
import type { Compressor } from '../compressor.js';
import { Reader, blockCount, pack } from '../bits/bits.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

export function createQsgd(levels: number, bucket: number): Compressor {
  if (levels < 1 || levels > 127) throw new Error(`qsgd levels must be in 1..127, got ${levels}`);
  return {
    id: 'qsgd',
    pattern: 'all-to-all',
    sparse: false,
    encode: (x, ctx) => {
      const r = rng(ctx.localSeed);
      const nb = blockCount(x.length, bucket);
      const norms = new Float32Array(nb);
      for (let b = 0; b < nb; b++) {
        let s = 0;
        for (let i = b * bucket; i < Math.min(x.length, (b + 1) * bucket); i++) s += x[i] * x[i];
        norms[b] = Math.sqrt(s);
      }
      const q = new Int8Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const norm = norms[(i / bucket) | 0];
        if (norm === 0) continue;
        const level = (Math.abs(x[i]) / norm) * levels;
        const lo = Math.floor(level);
        const xi = lo + (r() < level - lo ? 1 : 0);
        q[i] = x[i] < 0 ? -xi : xi;
      }
      return pack(norms, q);
    },
    decode: (payload, n) => {
      const r = new Reader(payload);
      const norms = r.f32(blockCount(n, bucket));
      const q = r.i8(n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = (norms[(i / bucket) | 0] * q[i]) / levels;
      return out;
    },
  };
}

export const qsgd = defineMethod({
  kind: 'gradient',
  id: 'qsgd',
  order: 100,
  label: 'QSGD',
  description: 'stochastic rounding to s levels of the bucket norm (unbiased)',
  params: z
    .object({
      levels: z.number().int().min(1).max(127).default(16),
      bucket: z.number().int().min(8).default(512),
    })
    .strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'all-to-all',
  create: (p) => createQsgd(p.levels, p.bucket),
});
