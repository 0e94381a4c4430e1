/** Magnitude selection shared by the sparsifiers (top-k, DGC). */

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

/** Indices of exactly k entries of largest |x| (ties broken by position), ascending. */
export function topKIndices(x: Float32Array, k: number): Uint32Array {
  const n = x.length;
  if (k >= n) return Uint32Array.from({ length: n }, (_, i) => i);
  if (k <= 0) return new Uint32Array(0);
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(x[i]);
  const thr = kthLargest(mags, k);
  let above = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i]) > thr) above++;
  let ties = k - above;
  const out = new Uint32Array(k);
  let m = 0;
  for (let i = 0; i < n && m < k; i++) {
    const a = Math.abs(x[i]);
    if (a > thr || (a === thr && ties-- > 0)) out[m++] = i;
  }
  return out;
}

/** Sparse payload: [k indices u32][k values f32]. */
export function sparseEncode(idx: Uint32Array, x: Float32Array): Uint8Array {
  const out = new Uint8Array(idx.length * 8);
  new Uint32Array(out.buffer, 0, idx.length).set(idx);
  const vals = new Float32Array(out.buffer, idx.length * 4, idx.length);
  for (let i = 0; i < idx.length; i++) vals[i] = x[idx[i]];
  return out;
}

export function sparseDecode(payload: Uint8Array, n: number): Float32Array {
  const k = payload.byteLength / 8;
  const copy = payload.slice();
  const idx = new Uint32Array(copy.buffer, 0, k);
  const vals = new Float32Array(copy.buffer, k * 4, k);
  const out = new Float32Array(n);
  for (let i = 0; i < k; i++) {
    if (idx[i] >= n) throw new Error(`sparse payload index ${idx[i]} out of range ${n}`);
    out[idx[i]] += vals[i];
  }
  return out;
}
