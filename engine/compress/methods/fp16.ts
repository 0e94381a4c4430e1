/** fp16: round to IEEE half precision before the reduce-scatter; each hop accumulates in f32. */
import { ownBytes } from '../bits/bits.js';
import { f16ArrayToF32, f32ArrayToF16 } from '../../comm/f16.js';
import { payloadBuffer, type Compressor } from '../compressor.js';
import { sumHalfPayloads } from '../kernels/half-sum.js';
import { f32ToF16Simd } from '../kernels/simd-kernels.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

/** f16 bits of x: the SIMD kernel where it runs, the (bit-identical) JS loop for the rest. */
export function f32ToF16Array(
  x: Float32Array,
  dst: Uint16Array = new Uint16Array(x.length),
): Uint16Array {
  const done = f32ToF16Simd(x, dst);
  if (done < x.length) f32ArrayToF16(x.subarray(done), dst.subarray(done));
  return dst;
}

export function createFp16(): Compressor {
  return {
    id: 'fp16',
    pattern: 'reduce-scatter',
    sparse: false,
    wireDtype: 'f16',
    encode: (x, ctx) => {
      const out = payloadBuffer(ctx, x.length * 2);
      f32ToF16Array(x, new Uint16Array(out.buffer, out.byteOffset, x.length));
      return out;
    },
    decode: (payload, n) => f16ArrayToF32(new Uint16Array(ownBytes(payload, 0, n * 2).buffer)),
    aggregate: (payloads, n) => sumHalfPayloads('f16', payloads, n),
  };
}

export const fp16 = defineMethod({
  kind: 'gradient',
  id: 'fp16',
  order: 10,
  label: 'fp16',
  description: 'IEEE half precision on the wire, summed in f32 at every hop',
  params: z.object({}).strict(),
  defaultErrorFeedback: 'none',
  pattern: () => 'reduce-scatter',
  create: () => createFp16(),
});
