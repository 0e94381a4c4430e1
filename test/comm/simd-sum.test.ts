import { describe, expect, it } from 'vitest';
import { rng } from '../../engine/comm/check-data.js';
import { sumF32Simd } from '../../engine/comm/simd-sum.js';

/** The plain loop every f32 sum must match bit for bit. */
function reference(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((x, i) => Math.fround(x + b[i]));
}

describe('f32 sum with WebAssembly SIMD', () => {
  it('equals the plain loop bit for bit over whole chunks and ragged lengths; leaves the tail to the caller', () => {
    const next = rng(7);
    for (const n of [0, 3, 4, 5, 1023, 16384, 16389, 40000]) {
      // Wide exponents, so the sums round (and some cancel).
      const a = Float32Array.from(
        { length: n },
        () => (next() - 0.5) * 2 ** Math.floor(next() * 40 - 20),
      );
      const b = Float32Array.from(
        { length: n },
        () => (next() - 0.5) * 2 ** Math.floor(next() * 40 - 20),
      );
      const want = reference(a, b);
      const done = sumF32Simd(a, b);
      expect(done === 0 || done === (n & ~3)).toBe(true);
      for (let i = done; i < n; i++) a[i] += b[i];
      expect(new Uint32Array(a.buffer)).toEqual(new Uint32Array(want.buffer));
    }
  });
});
