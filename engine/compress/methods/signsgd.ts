/**
 * signSGD with a scale (EF-SignSGD, Karimireddy et al. 2019): 1 bit per value plus, per block,
 * the mean magnitude, so the decoded vector keeps the block's L1 mass. Biased: meant to run with
 * error feedback.
 */
import type { Compressor } from '../compressor.js';
import { Reader, blockCount, pack, packCodes, packedBytes, unpackCodes } from '../bits/bits.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { blockParam } from '../param-fields.js';

export function createSignSgd(block: number): Compressor {
  return {
    id: 'signsgd',
    pattern: 'all-to-all',
    sparse: false,
    encode: (x) => {
      const scales = new Float32Array(blockCount(x.length, block));
      const bits = new Uint8Array(x.length);
      for (let i = 0; i < x.length; i++) {
        scales[(i / block) | 0] += Math.abs(x[i]);
        bits[i] = x[i] < 0 ? 1 : 0;
      }
      for (let b = 0; b < scales.length; b++) scales[b] /= Math.min(block, x.length - b * block);
      return pack(scales, packCodes(bits, 1));
    },
    decode: (payload, n) => {
      const r = new Reader(payload);
      const scales = r.f32(blockCount(n, block));
      const bits = unpackCodes(r.u8(packedBytes(n, 1)), n, 1);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++)
        out[i] = bits[i] ? -scales[(i / block) | 0] : scales[(i / block) | 0];
      return out;
    },
  };
}

export const signsgd = defineMethod({
  kind: 'gradient',
  id: 'signsgd',
  order: 90,
  label: 'signSGD (1-bit)',
  description: 'sign bits plus the mean magnitude per block (EF-SignSGD)',
  params: z.object({ block: blockParam }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'all-to-all',
  create: (p) => createSignSgd(p.block),
});
