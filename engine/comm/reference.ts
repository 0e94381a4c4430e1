/**
 * Plain single-process reference for reductions: the answer every collective must reproduce.
 * Float sums are taken in f64 and rounded once, so they are the "true" sum; a ring's per-hop
 * rounding may differ by a few ulps, which `compareReduced` tolerates (integers must match exactly).
 */
import { allocArray, bytesOf, viewAs, type CommArray, type DType, type ReduceOp } from './dtype.js';
import { bf16BitsToF32, f32ToBf16Bits } from './bf16.js';
import { f16BitsToF32, f32ToF16Bits } from './f16.js';

export function referenceReduce(dtype: DType, op: ReduceOp, inputs: Uint8Array[]): Uint8Array {
  const views = inputs.map((b) => viewAs(dtype, b) as CommArray);
  const n = views[0].length;
  const out = allocArray(dtype, n) as CommArray;
  const widen = widener(dtype);
  for (let i = 0; i < n; i++) {
    let acc = widen(views[0][i]);
    for (let r = 1; r < views.length; r++) {
      const v = widen(views[r][i]);
      if (op === 'sum') acc = dtype === 'i32' ? (acc + v) | 0 : acc + v;
      else if (op === 'max') acc = v > acc || v !== v ? v : acc;
      else acc = acc | v;
    }
    out[i] = dtype === 'f16' ? f32ToF16Bits(acc) : dtype === 'bf16' ? f32ToBf16Bits(acc) : acc;
  }
  return bytesOf(out);
}

/**
 * Index of the first element where `got` differs from `want` beyond tolerance, or -1.
 * Floats: |got - want| <= relTol * scale, where scale is the sum of |inputs| at that element
 * (the rounding error bound of a sum grows with the magnitudes summed, not with the result).
 */
export function compareReduced(
  dtype: DType,
  op: ReduceOp,
  got: Uint8Array,
  want: Uint8Array,
  inputs: Uint8Array[],
  world: number,
): number {
  if (got.byteLength !== want.byteLength) return 0;
  const g = viewAs(dtype, got) as CommArray;
  const w = viewAs(dtype, want) as CommArray;
  const isFloat = dtype === 'f32' || dtype === 'f16' || dtype === 'bf16';
  if (!isFloat || op !== 'sum') {
    for (let i = 0; i < g.length; i++) {
      if (g[i] !== w[i] && !(Number.isNaN(g[i]) && Number.isNaN(w[i]))) return i;
    }
    return -1;
  }
  const widen = widener(dtype);
  // One rounding per hop: f32 eps 2^-24, f16 eps 2^-11, bf16 eps 2^-8.
  const eps = dtype === 'f16' ? 2 ** -11 : dtype === 'bf16' ? 2 ** -8 : 2 ** -24;
  const views = inputs.map((b) => viewAs(dtype, b) as CommArray);
  for (let i = 0; i < g.length; i++) {
    const a = widen(g[i]);
    const b = widen(w[i]);
    if (a === b) continue;
    let scale = 0;
    for (const v of views) scale += Math.abs(widen(v[i]));
    if (!(Math.abs(a - b) <= 2 * world * eps * scale + 2 ** -24)) return i;
  }
  return -1;
}

function widener(dtype: DType): (x: number) => number {
  if (dtype === 'f16') return f16BitsToF32;
  if (dtype === 'bf16') return bf16BitsToF32;
  return (x) => x;
}
