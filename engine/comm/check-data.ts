/** Deterministic inputs for collective checks: every rank can regenerate every other rank's data. */
import { DTYPE_BYTES, allocArray, bytesOf, type CommArray, type DType } from './dtype.js';
import { f32ToBf16Bits } from './bf16.js';
import { f32ToF16Bits } from './f16.js';
import { rng } from '../util/rng.js';

export { rng } from '../util/rng.js';

/** Random input of `count` elements for `rank`, spanning the dtype's range (ints wrap on sum). */
export function makeInput(dtype: DType, count: number, seed: number, rank: number): Uint8Array {
  const r = rng(seed * 1000 + rank + 1);
  const a = allocArray(dtype, count) as CommArray;
  for (let i = 0; i < count; i++) {
    const u = r();
    switch (dtype) {
      case 'f32':
        a[i] = (u - 0.5) * 200;
        break;
      case 'f16':
        a[i] = f32ToF16Bits((u - 0.5) * 8);
        break;
      case 'bf16':
        a[i] = f32ToBf16Bits((u - 0.5) * 8);
        break;
      case 'i8':
        a[i] = Math.floor(u * 256) - 128;
        break;
      case 'u8':
        a[i] = Math.floor(u * 256);
        break;
      case 'i32':
        a[i] = Math.floor(u * 2 ** 32) | 0;
        break;
    }
  }
  return bytesOf(a);
}

export const bytesPer = (dtype: DType): number => DTYPE_BYTES[dtype];
