import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../engine/comm/f16.js';

describe('f16 conversion', () => {
  it('round-trips every finite f16 value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const e = (h >>> 10) & 0x1f;
      if (e === 0x1f) continue;
      expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });

  it('rounds to nearest with ties to even, saturates to Inf, keeps NaN', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even (down)
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up past the largest finite value
    expect(f32ToF16Bits(-1e9)).toBe(0xfc00);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    expect(f32ToF16Bits(2 ** -24)).toBe(1); // smallest subnormal
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie between 0 and 2^-24 -> even (0)
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(f16BitsToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
  });

  it('matches the nearest representable value for random inputs', () => {
    let seed = 12345;
    const rnd = (): number =>
      ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5) * 2 ** ((seed % 40) - 20);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround(rnd());
      const h = f32ToF16Bits(x);
      const y = f16BitsToF32(h);
      // Neighbours of h must not be strictly closer to x.
      for (const n of [h - 1, h + 1]) {
        if (n < 0 || n > 0xffff || ((n >>> 10) & 0x1f) === 0x1f || (n ^ h) & 0x8000) continue;
        expect(Math.abs(f16BitsToF32(n) - x)).toBeGreaterThanOrEqual(Math.abs(y - x));
      }
    }
  });
});

describe('bf16 conversion', () => {
  it('keeps the f32 exponent range and rounds the low half to nearest even', async () => {
    const { bf16BitsToF32, f32ToBf16Bits } = await import('../../engine/comm/bf16.js');
    expect(bf16BitsToF32(f32ToBf16Bits(1))).toBe(1);
    expect(bf16BitsToF32(f32ToBf16Bits(3e38))).toBeCloseTo(3e38, -36);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -12)).toBe(0x3f81);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(bf16BitsToF32(f32ToBf16Bits(-Infinity))).toBe(-Infinity);
    for (let h = 0; h < 0x10000; h += 7) {
      if (((h >>> 7) & 0xff) === 0xff) continue;
      expect(f32ToBf16Bits(bf16BitsToF32(h))).toBe(h);
    }
  });
});

describe('array conversion', () => {
  it('f32ArrayToF16 matches the scalar conversion on every exponent range', async () => {
    const { f32ArrayToF16 } = await import('../../engine/comm/f16.js');
    const xs = new Float32Array(200_000);
    let seed = 99;
    for (let i = 0; i < xs.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      xs[i] = (seed / 2 ** 32 - 0.5) * 2 ** ((seed % 60) - 30);
    }
    xs.set([0, -0, Infinity, -Infinity, NaN, 65504, 65520, 1e-8, 6.1e-5, 2 ** -24], 0);
    const fast = f32ArrayToF16(xs);
    for (let i = 0; i < xs.length; i++) expect(fast[i]).toBe(f32ToF16Bits(xs[i]));
  });
});
