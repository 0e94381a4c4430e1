import { describe, expect, it } from 'vitest';
import { createParamCodec, PARAM_COMMS } from '../../engine/compress/param-codec.js';
import { PARAM_INT8_BLOCK } from '../../engine/compress/param-int8.js';
import { gaussian } from '../../engine/util/rng.js';

function randn(n: number, seed: number, scale: number): Float32Array {
  const g = gaussian(seed);
  return Float32Array.from({ length: n }, () => g() * scale);
}

/** bf16 by the book: round the f32 to 8 mantissa bits, ties to even, via exact arithmetic. */
function bf16Reference(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const ulp = 2 ** (e - 7);
  const q = x / ulp;
  const f = Math.floor(q);
  const r = q - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(q);
  return r * ulp;
}

/** Blockwise int8 by the book: per block scale max|x| / 127, codes round(x / scale). */
function int8Reference(x: Float32Array, block: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b * block < x.length; b++) {
    const blk = x.subarray(b * block, (b + 1) * block);
    const max = Math.fround(blk.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
    blk.forEach((v, i) => {
      const code = max > 0 ? Math.round(v * (127 / max)) : 0;
      out[b * block + i] = code * (max / 127);
    });
  }
  return out;
}

/** Encodes `x` and decodes it from a payload placed at byte offset `at` (gathered payloads need not be aligned). */
function roundTrip(kind: 'bf16' | 'int8', x: Float32Array, at: number): Float32Array {
  const c = createParamCodec(kind)!;
  const payload = new Uint8Array(c.payloadBytes(x.length));
  c.encode(x, payload);
  const shifted = new Uint8Array(at + payload.length);
  shifted.set(payload, at);
  const out = new Float32Array(x.length);
  c.decodeInto(shifted.subarray(at), out);
  return out;
}

describe('parameter all-gather codecs against plain references', () => {
  const x = randn(3 * PARAM_INT8_BLOCK + 77, 5, 0.05);
  x[10] = 0.9; // one large weight: only its own block gets coarser
  x.fill(0, PARAM_INT8_BLOCK, 2 * PARAM_INT8_BLOCK); // an all-zero block decodes to zeros

  it('bf16 rounds every value to nearest-even bf16, from an odd offset too', () => {
    for (const at of [0, 1]) {
      const got = roundTrip('bf16', x, at);
      x.forEach((v, i) => expect(got[i], `i=${i}`).toBe(Math.fround(bf16Reference(v))));
    }
  });

  it('int8 matches per-block max/127 quantisation, from an unaligned offset too', () => {
    const want = int8Reference(x, PARAM_INT8_BLOCK);
    for (const at of [0, 3]) {
      const got = roundTrip('int8', x, at);
      // The SIMD kernel rounds in f32: a value on a rounding tie may land one step away.
      let exact = 0;
      x.forEach((_, i) => {
        if (got[i] === want[i]) exact++;
        else
          expect(Math.abs(got[i] - want[i]), `i=${i}`).toBeLessThanOrEqual(
            1.0001 * blockStep(x, i),
          );
      });
      expect(exact / x.length).toBeGreaterThan(0.99);
      expect(
        Array.from(got.subarray(PARAM_INT8_BLOCK, 2 * PARAM_INT8_BLOCK)).every((v) => v === 0),
      ).toBe(true);
    }
  });

  it('payloads are a half (bf16) and about a quarter (int8) of fp32', () => {
    expect(createParamCodec('fp32')).toBeUndefined();
    expect(createParamCodec('bf16')!.payloadBytes(1024)).toBe(2048);
    expect(createParamCodec('int8')!.payloadBytes(1024)).toBe(1024 + 4 * 4);
    expect(PARAM_COMMS).toEqual(['fp32', 'bf16', 'int8']);
  });
});

function blockStep(x: Float32Array, i: number): number {
  const b = Math.floor(i / PARAM_INT8_BLOCK);
  const blk = x.subarray(b * PARAM_INT8_BLOCK, (b + 1) * PARAM_INT8_BLOCK);
  return blk.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
}
