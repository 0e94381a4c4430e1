/** Magnitude selection shared by the sparsifiers (top-k, DGC). */
import { ownBytes } from './bits.js';

/** The k-th largest value of `a` (1-based), by quickselect; reorders `a`. */
export function kthLargest(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

/** Elements below which sampling is not worth it: one quickselect over a copy is fast enough. */
const SAMPLED_MIN_N = 1 << 16;
/** Strided samples used to estimate the threshold. */
const SAMPLES = 1 << 14;

/**
 * Indices of exactly k entries of largest |x| (ties broken by position), ascending.
 *
 * Large vectors: a strided sample estimates a threshold a little below the k-th magnitude, one
 * pass collects the candidates at or above it, and the exact selection runs on those only (a few
 * k elements instead of a copy of all n: at 16M elements the copy alone cost more than the whole
 * selection). When the estimate was too high (fewer than k candidates) it falls back to the full
 * selection, so the result is always exact.
 */
export function topKIndices(x: Float32Array, k: number): Uint32Array {
  const n = x.length;
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  if (k <= 0) return new Uint32Array(0);
  if (n >= SAMPLED_MIN_N && k <= n / 8) {
    const sample = new Float32Array(SAMPLES);
    const stride = n / SAMPLES;
    for (let i = 0; i < SAMPLES; i++) sample[i] = Math.abs(x[Math.floor(i * stride)]);
    // Aim for about 1.5k candidates so sampling noise rarely leaves fewer than k.
    const rank = Math.max(1, Math.min(SAMPLES, Math.ceil((k / n) * SAMPLES * 1.5) + 8));
    const picked = topKAtOrAbove(x, k, kthLargest(sample, rank));
    if (picked) return picked;
  }
  return topKAtOrAbove(x, k, -1)!;
}

/**
 * Exact top-k among the entries with |x| >= `floor` (all entries for a negative floor); undefined
 * when fewer than k entries reach the floor.
 */
export function topKAtOrAbove(x: Float32Array, k: number, floor: number): Uint32Array | undefined {
  const n = x.length;
  let count = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i]) >= floor) count++;
  if (count < k) return undefined;
  const cand = new Uint32Array(count);
  const mags = new Float32Array(count);
  for (let i = 0, c = 0; i < n; i++) {
    const a = Math.abs(x[i]);
    if (a >= floor) {
      cand[c] = i;
      mags[c++] = a;
    }
  }
  const thr = kthLargest(mags, k);
  let above = 0;
  for (let c = 0; c < count; c++) if (Math.abs(x[cand[c]]) > thr) above++;
  let ties = k - above;
  const out = new Uint32Array(k);
  let m = 0;
  for (let c = 0; c < count && m < k; c++) {
    const a = Math.abs(x[cand[c]]);
    if (a > thr || (a === thr && ties-- > 0)) out[m++] = cand[c];
  }
  return out;
}

/** Sparse payload: [k indices u32][k values f32], into `out` when given (8k bytes). */
export function sparseEncode(
  idx: Uint32Array,
  x: Float32Array,
  out: Uint8Array = new Uint8Array(idx.length * 8),
): Uint8Array {
  new Uint32Array(out.buffer, 0, idx.length).set(idx);
  const vals = new Float32Array(out.buffer, idx.length * 4, idx.length);
  for (let i = 0; i < idx.length; i++) vals[i] = x[idx[i]];
  return out;
}

export function sparseDecode(payload: Uint8Array, n: number): Float32Array {
  const k = payload.byteLength / 8;
  const copy = ownBytes(payload);
  const idx = new Uint32Array(copy.buffer, 0, k);
  const vals = new Float32Array(copy.buffer, k * 4, k);
  const out = new Float32Array(n);
  for (let i = 0; i < k; i++) {
    if (idx[i] >= n) throw new Error(`sparse payload index ${idx[i]} out of range ${n}`);
    out[idx[i]] += vals[i];
  }
  return out;
}
