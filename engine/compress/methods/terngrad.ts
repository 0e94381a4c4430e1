/**
 * TernGrad (Wen et al. 2017): per bucket s = max|p|, q_i = s * sign(p_i) * b_i with
 * b_i ~ Bernoulli(|p_i| / s); E[q] = p (unbiased). 2 bits per value.
 */
import { rng } from '../../util/rng.js';
import type { Compressor } from '../compressor.js';
import { Reader, blockCount, pack, packCodes, packedBytes, unpackCodes } from '../bits/bits.js';
import { blockAbsMax } from '../blockwise-int.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

export function createTernGrad(bucket: number): Compressor {
  return {
    id: 'terngrad',
    pattern: 'all-to-all',
    sparse: false,
    encode: (x, ctx) => {
      const r = rng(ctx.localSeed);
      const scales = blockAbsMax(x, bucket);
      const codes = new Uint8Array(x.length); // 0: zero, 1: +s, 2: -s
      for (let i = 0; i < x.length; i++) {
        const s = scales[(i / bucket) | 0];
        if (s > 0 && r() < Math.abs(x[i]) / s) codes[i] = x[i] < 0 ? 2 : 1;
      }
      return pack(scales, packCodes(codes, 2));
    },
    decode: (payload, n) => {
      const r = new Reader(payload);
      const scales = r.f32(blockCount(n, bucket));
      const codes = unpackCodes(r.u8(packedBytes(n, 2)), n, 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const s = scales[(i / bucket) | 0];
        out[i] = codes[i] === 1 ? s : codes[i] === 2 ? -s : 0;
      }
      return out;
    },
  };
}

export const terngrad = defineMethod({
  kind: 'gradient',
  id: 'terngrad',
  order: 110,
  label: 'TernGrad',
  description: 'ternary {-s, 0, +s} with Bernoulli(|p| / s) (unbiased), 2 bits per value',
  params: z.object({ bucket: z.number().int().min(8).default(512) }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'all-to-all',
  create: (p) => createTernGrad(p.bucket),
});
