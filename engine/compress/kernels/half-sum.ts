/** Hop-by-hop sum of 16-bit float payloads, exactly as the ring reduce-scatter performs it. */
import { ownBytes } from '../bits/bits.js';
import { reduceInto, type DType } from '../../comm/dtype.js';

export function sumHalfPayloads(dtype: DType, payloads: Uint8Array[], n: number): Uint8Array {
  const acc = ownBytes(payloads[0], 0, n * 2);
  for (const p of payloads.slice(1)) reduceInto(dtype, 'sum', acc, p.subarray(0, n * 2));
  return acc;
}
