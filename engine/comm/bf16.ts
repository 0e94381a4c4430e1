/**
 * bfloat16 <-> float32 on raw bits. bf16 is the top half of an f32 (same exponent range, 8 bits of
 * mantissa), so widening is a shift and narrowing rounds the dropped half to nearest even.
 */
const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);

export function f32ToBf16Bits(x: number): number {
  f[0] = x;
  const bits = u[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0)
    return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u[0] = (h & 0xffff) << 16;
  return f[0];
}
