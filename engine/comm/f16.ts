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

/**
 * Converts a whole f32 array to f16 bits. Reads the bits through one Uint32Array view of the
 * source (no per-element round trip through a scratch float) and takes the common normal-range
 * path inline; everything else goes through f32ToF16Bits.
 */
export function f32ArrayToF16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const bits =
    src.byteOffset % 4 === 0
      ? new Uint32Array(src.buffer, src.byteOffset, src.length)
      : new Uint32Array(src.slice().buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const exp = (b >>> 23) & 0xff;
    // f32 exponents 113..141 are normal f16 numbers (rounding may carry into the exponent, which is still right).
    if (exp > 112 && exp < 142) {
      let half = (((exp - 112) << 10) | ((b >>> 13) & 0x3ff)) + 0;
      const rem = b & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++;
      dst[i] = ((b >>> 16) & 0x8000) | half;
    } else if (exp > 101 && exp <= 112) {
      // f16 subnormal (small gradients live here): shift the implicit bit in, round to even.
      const shift = 126 - exp;
      const m = (b & 0x7fffff) | 0x800000;
      let half = m >>> shift;
      const rem = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      if (rem > halfway || (rem === halfway && (half & 1) !== 0)) half++;
      dst[i] = ((b >>> 16) & 0x8000) | half;
    } else if (exp <= 101) {
      dst[i] = (b >>> 16) & 0x8000; // rounds to a signed zero
    } else {
      dst[i] = f32ToF16Bits(src[i]);
    }
  }
  return dst;
}

/** Widens a whole f16-bit array to f32. */
export function f16ArrayToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const t = f16Table();
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]];
  return dst;
}
