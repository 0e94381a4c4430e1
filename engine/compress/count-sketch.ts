/**
 * The lossless homomorphic compression core (LHC, Li et al., ICML 2024):
 * - a bitmap index of the support, aggregated across ranks by bitwise OR;
 * - a table of `ceil(blocks / compressRatio) * BLOCK` f32 buckets, split into h = 3 equal parts;
 *   every element of the global support S adds its value into one bucket of each part (position
 *   hashes), so tables from different ranks simply add up (summable);
 * - bucket counts follow from S and the hashes, so every rank computes them and they never travel;
 * - bucket values are integers: every value is fixed-point with a scale all ranks agree on and as
 *   many bits as the fullest bucket allows without overflowing int32 over the whole group, so the
 *   summed table and the peeling are exact integer arithmetic. (With float buckets, the rounding
 *   of each bucket compounds along peeling chains: measured errors of 1e4 at 57 % load.)
 * - decoding peels: a bucket holding exactly one unresolved element holds that element's exact
 *   sum; record it, subtract it from its other buckets, repeat. What never peels is estimated
 *   (median of its buckets after peeling) and reported, never silent.
 */
export const SKETCH_BLOCK = 1024;
export const HASHES = 3;

export function tableSize(n: number, compressRatio: number): number {
  const blocks = Math.ceil(n / SKETCH_BLOCK);
  const t = Math.ceil(blocks / compressRatio) * SKETCH_BLOCK;
  return Math.max(HASHES, t - (t % HASHES)); // equal parts, one per hash
}

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Bucket of element i for hash k: always in part k, so an element's buckets are distinct. */
export function bucketOf(i: number, k: number, part: number, seed: number): number {
  return k * part + (mix(i * 3 + k + 1 + Math.imul(seed, 0x9e3779b1)) % part);
}

// ---- index (support bitmap) ----------------------------------------------------------------

/** Bitmap with one bit per `group` elements (group 1: exact support; 4: the coarser 4-bit index). */
export function supportBitmap(x: Float32Array, group: number): Uint8Array {
  const bits = new Uint8Array(Math.ceil(Math.ceil(x.length / group) / 8));
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== 0) {
      const g = (i / group) | 0;
      bits[g >> 3] |= 1 << (g & 7);
    }
  }
  return bits;
}

/** Positions of S (ascending) from a bitmap over n elements. */
export function supportOf(bits: Uint8Array, n: number, group: number): Uint32Array {
  const groups = Math.ceil(n / group);
  const inGroup = (g: number): number =>
    bits[g >> 3] & (1 << (g & 7)) ? Math.min(n, (g + 1) * group) - g * group : 0;
  let count = 0;
  for (let g = 0; g < groups; g++) count += inGroup(g);
  const out = new Uint32Array(count);
  for (let g = 0, k = 0; g < groups; g++)
    if (inGroup(g)) for (let i = g * group; i < Math.min(n, (g + 1) * group); i++) out[k++] = i;
  return out;
}

// ---- sketch -------------------------------------------------------------------------------

/** Most elements of S in any one bucket (known to every rank, since S and the hashes are). */
export function maxBucketLoad(support: Uint32Array, size: number, seed: number): number {
  const part = size / HASHES;
  const count = new Uint16Array(size);
  let max = 0;
  for (const i of support) {
    for (let k = 0; k < HASHES; k++) {
      const b = bucketOf(i, k, part, seed);
      if (++count[b] > max) max = count[b];
    }
  }
  return max;
}

/** Fixed-point fraction bits such that `ranks` ranks' sums of `load` values of |q| <= 2^bits fit in int32. */
export function fixedPointBits(ranks: number, load: number): number {
  return Math.max(1, Math.min(24, Math.floor(30 - Math.log2(Math.max(1, ranks * load)))));
}

/** Fixed-point scale for values up to `absmax`: q = round(v * scale). */
export const fixedScale = (absmax: number, bits: number): number =>
  absmax > 0 ? 2 ** bits / absmax : 1;

/** This rank's table: x's values at the global support S, fixed-point, hashed into h buckets each. */
export function buildSketch(
  x: Float32Array,
  support: Uint32Array,
  size: number,
  seed: number,
  scale: number,
): Int32Array {
  const table = new Int32Array(size);
  const part = size / HASHES;
  for (const i of support) {
    const v = x[i];
    if (v === 0) continue;
    const q = Math.round(v * scale);
    for (let k = 0; k < HASHES; k++) table[bucketOf(i, k, part, seed)] += q;
  }
  return table;
}

export interface PeelResult {
  values: Float32Array;
  /** |S| and how many of them peeled exactly. */
  support: number;
  peeled: number;
}

/** Recovers the summed values at S from a summed table (exact for every element that peels). */
export function peel(
  table: Int32Array,
  support: Uint32Array,
  n: number,
  seed: number,
  scale: number,
): PeelResult {
  const size = table.length;
  const part = size / HASHES;
  const t = Float64Array.from(table); // integers: every subtraction below is exact
  const count = new Int32Array(size);
  const idxXor = new Int32Array(size); // XOR of unresolved element positions per bucket
  const buckets = new Uint32Array(support.length * HASHES);
  support.forEach((i, s) => {
    for (let k = 0; k < HASHES; k++) {
      const b = bucketOf(i, k, part, seed);
      buckets[s * HASHES + k] = b;
      count[b]++;
      idxXor[b] ^= s;
    }
  });
  const values = new Float32Array(n);
  const resolved = new Uint8Array(support.length);
  const queue: number[] = [];
  for (let b = 0; b < size; b++) if (count[b] === 1) queue.push(b);
  let peeled = 0;
  while (queue.length > 0) {
    const b = queue.pop()!;
    if (count[b] !== 1) continue;
    const s = idxXor[b];
    if (resolved[s]) continue;
    const v = t[b];
    resolved[s] = 1;
    peeled++;
    values[support[s]] = v / scale;
    for (let k = 0; k < HASHES; k++) {
      const o = buckets[s * HASHES + k];
      t[o] -= v;
      count[o]--;
      idxXor[o] ^= s;
      if (count[o] === 1) queue.push(o);
    }
  }
  // Estimate what did not peel: the median of its buckets' residues, shared by the unresolved
  // elements still in each bucket.
  if (peeled < support.length) {
    for (let s = 0; s < support.length; s++) {
      if (resolved[s]) continue;
      const est = [0, 1, 2].map((k) => {
        const b = buckets[s * HASHES + k];
        return t[b] / Math.max(1, count[b]);
      });
      est.sort((a, b) => a - b);
      values[support[s]] = est[1] / scale;
    }
  }
  return { values, support: support.length, peeled };
}
