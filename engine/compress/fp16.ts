/** fp16: round to IEEE half precision before the reduce-scatter; each hop accumulates in f32. */
import { bytesOf } from '../comm/dtype.js';
import { f16ArrayToF32, f32ArrayToF16 } from '../comm/f16.js';
import type { Compressor } from './compressor.js';
import { sumHalfPayloads } from './half-sum.js';

export function createFp16(): Compressor {
  return {
    id: 'fp16',
    pattern: 'reduce-scatter',
    sparse: false,
    wireDtype: 'f16',
    encode: (x) => bytesOf(f32ArrayToF16(x)),
    decode: (payload, n) => f16ArrayToF32(new Uint16Array(payload.slice(0, n * 2).buffer)),
    aggregate: (payloads, n) => sumHalfPayloads('f16', payloads, n),
  };
}
