/** bf16: keep the f32 exponent, 8 mantissa bits; summable like fp16 (no overflow to Inf). */
import { ownBytes } from '../bits/bits.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../comm/bf16.js';
import { bytesOf } from '../../comm/dtype.js';
import type { Compressor } from '../compressor.js';
import { sumHalfPayloads } from '../kernels/half-sum.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

export function createBf16(): Compressor {
  return {
    id: 'bf16',
    pattern: 'reduce-scatter',
    sparse: false,
    wireDtype: 'bf16',
    encode: (x) => {
      const out = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f32ToBf16Bits(x[i]);
      return bytesOf(out);
    },
    decode: (payload, n) => {
      const h = new Uint16Array(ownBytes(payload, 0, n * 2).buffer);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(h[i]);
      return out;
    },
    aggregate: (payloads, n) => sumHalfPayloads('bf16', payloads, n),
  };
}

export const bf16 = defineMethod({
  kind: 'gradient',
  id: 'bf16',
  order: 20,
  label: 'bf16',
  description: 'bfloat16 on the wire (f32 range, 8-bit mantissa), summed in f32 at every hop',
  params: z.object({}).strict(),
  defaultErrorFeedback: 'none',
  pattern: () => 'reduce-scatter',
  create: () => createBf16(),
});
