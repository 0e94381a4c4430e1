/**
 * IEEE 754 binary16 <-> binary32 conversion on raw bits.
 *
 * f16 payloads travel as u16 bit patterns (JavaScript has no Float16Array in Node 20); every
 * reduction widens to f32, accumulates, and rounds back once per hop with round-to-nearest-even,
 * which is what a GPU's __float2half_rn does.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Rounds one f32 value to the nearest f16 bit pattern (ties to even). */
export function f32ToF16Bits(x: number): number {
  scratchF32[0] = x;
  const bits = scratchU32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf stays Inf, NaN stays quiet NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow saturates to infinity, as IEEE rounding does
  if (e <= 0) {
    // Result is subnormal in f16 (or rounds to zero): shift the implicit bit into the mantissa.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches Inf at the top).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
  return sign | half;
}

function decodeF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m !== 0 ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

let table: Float32Array | undefined;

/** All 65536 f16 values as f32: a 256 KiB table makes widening a single indexed load. */
export function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = decodeF16(h);
  }
  return table;
}

export function f16BitsToF32(h: number): number {
  return f16Table()[h & 0xffff];
}

const magicF32 = new Float32Array(1);
const magicU32 = new Uint32Array(magicF32.buffer);

/**
 * Converts a whole f32 array to f16 bits, round to nearest even, with two short paths and no
 * function call per element (gradients straddle the f16 normal/subnormal boundary, so a branchy
 * per-case conversion mispredicted on most elements):
 * - normal f16 range: rebias the exponent and add the rounding increment to the whole bit
 *   pattern; a carry out of the mantissa bumps the exponent, which is the right result.
 * - below 2^-14 (subnormal or zero): adding 0.5 in f32 aligns the value to the f16 subnormal
 *   spacing (2^-24) and lets the FPU round to nearest even; the low mantissa bits are the result.
 *   (The f64 sum is exact for every value that does not round to zero, so rounding once to f32
 *   is the only rounding.)
 */
export function f32ArrayToF16(
  src: Float32Array,
  dst: Uint16Array = new Uint16Array(src.length),
): Uint16Array {
  const aligned = src.byteOffset % 4 === 0;
  const f = aligned ? src : src.slice();
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const a = b & 0x7fffffff;
    let h: number;
    if (a < 0x38800000) {
      magicF32[0] = Math.abs(f[i]) + 0.5;
      h = magicU32[0] - 0x3f000000;
    } else if (a < 0x47800000) {
      // -(127 - 15) << 23 (mod 2^32), plus just under half an f16 ulp, plus the tie-to-even bit.
      h = (a + 0xc8000fff + ((a >>> 13) & 1)) >>> 13;
    } else {
      h = a > 0x7f800000 ? 0x7e00 : 0x7c00; // NaN stays a quiet NaN; overflow saturates to Inf
    }
    dst[i] = ((b >>> 16) & 0x8000) | h;
  }
  return dst;
}

/** Widens a whole f16-bit array to f32. */
export function f16ArrayToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const t = f16Table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}
