/**
 * The lossless homomorphic compression core (LHC, Li et al., ICML 2024):
 * - a bitmap index of the support, aggregated across ranks by bitwise OR;
 * - a table of about `m / compressRatio` buckets for m values, split into h = 3 equal parts;
 *   every element of the global support S adds its value into one bucket of each part (position
 *   hashes), so tables from different ranks simply add up (summable). A rank adds only its own
 *   non-zeros: the zeros of S would add nothing, so a rank can build its table before it knows S;
 * - bucket counts follow from S and the hashes, so the decoder computes them and they never travel;
 * - bucket values are int32 fixed-point codes with a scale all ranks agree on. Sums and peeling
 *   are exact integer arithmetic modulo 2^32: a bucket may wrap while it holds several elements,
 *   but an element's own sum fits in int32 (codes are clamped to `codeLimit`), so every element
 *   that peels is recovered exactly whatever the bucket loads were. (With float buckets, the
 *   rounding of each bucket compounds along peeling chains: measured errors of 1e4 at 57 % load.)
 * - decoding peels: a bucket holding exactly one unresolved element holds that element's exact
 *   sum; record it, subtract it from its other buckets, repeat. What never peels is estimated
 *   (median of its buckets' residues) and reported, never silent.
 */
export const HASHES = 3;

/**
 * Buckets for m values: ceil(m / compressRatio), rounded up to a whole number of buckets per hash.
 * The reference sizes tables in blocks of 1024 buckets (ceil(blocks / ratio) * 1024), a GPU kernel
 * granularity; on the small shards of small models that rounding alone cost up to 2x the table
 * (a shard of 1.5k values got 1024 buckets instead of 768), so tables here grow in steps of h.
 */
export function tableSize(m: number, compressRatio: number): number {
  return HASHES * Math.max(1, Math.ceil(m / compressRatio / HASHES));
}

/** A 32-bit integer hash (lowbias32); int32 in, int32 out, so V8 keeps it in small integers. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return x ^ (x >>> 16);
}

/** What a block's seed adds to every hashed position (so blocks do not share collisions). */
export const seedOffset = (seed: number): number => Math.imul(seed, 0x9e3779b1);

/**
 * A hash in [0, part): the high bits of hash x part (Lemire's multiply-shift range reduction).
 * The product of a uint32 and a part up to 2^21 is exact in a double, and unlike `% part` on a
 * uint32 (a floating-point remainder in V8, several times slower) it costs one multiply; larger
 * tables (not exact that way) take the remainder.
 */
const inRange = (h: number, part: number): number =>
  part <= 2097152 ? Math.floor(((h >>> 0) * part) / 4294967296) : (h >>> 0) % part;

/** Bucket of element i for hash k: always in part k, so an element's buckets are distinct. */
export function bucketOf(i: number, k: number, part: number, seed: number): number {
  return k * part + inRange(mix((i * 3 + k + 1 + seedOffset(seed)) | 0), part);
}

/**
 * Writes element i's three buckets (as `bucketOf` gives them) to out[at..at+2]: the hot loops of
 * encoding and peeling call this once per element instead of `bucketOf` three times.
 */
export function bucketsOf(
  i: number,
  part: number,
  offset: number,
  out: Uint32Array | Int32Array,
  at: number,
): void {
  const base = (i * 3 + 1 + offset) | 0;
  out[at] = inRange(mix(base), part);
  out[at + 1] = part + inRange(mix((base + 1) | 0), part);
  out[at + 2] = 2 * part + inRange(mix((base + 2) | 0), part);
}

// ---- fixed point ---------------------------------------------------------------------------

/**
 * How far above the scale's reference magnitude a value may be before its code clamps. The scale
 * comes from the previous step's agreed max |value| (so a rank can encode without a round trip);
 * what a clamp cuts off stays in the sender's error feedback, because the decoded contribution
 * (`sent`) is the clamped code.
 */
export const SCALE_HEADROOM = 8;
/**
 * Unresolved elements a bucket may hold for its residue to be read without wrap-around: the
 * estimate of what does not peel only trusts buckets up to this load.
 */
export const ESTIMATE_LOAD = 16;

/** Fraction bits of the codes for a group of `ranks`: |sum| of ESTIMATE_LOAD clamped codes of every rank < 2^31. */
export function fixedPointBits(ranks: number): number {
  const b = Math.floor(31 - Math.log2(Math.max(1, ranks) * SCALE_HEADROOM * ESTIMATE_LOAD));
  return Math.max(1, Math.min(24, b));
}

/** Fixed-point scale for values of magnitude up to about `absmax`: q = round(v * scale). */
export const fixedScale = (absmax: number, bits: number): number =>
  absmax > 0 ? 2 ** bits / absmax : 1;

/** Largest |code|: SCALE_HEADROOM times the reference magnitude. */
export const codeLimit = (bits: number): number => SCALE_HEADROOM * 2 ** bits;

/** The clamped fixed-point code of v. */
export function encodeValue(v: number, scale: number, limit: number): number {
  const q = Math.round(v * scale);
  return q > limit ? limit : q < -limit ? -limit : q;
}

// ---- index (support bitmap) ----------------------------------------------------------------

/** Bytes of a bitmap with one bit per `group` of m elements. */
export const bitmapBytes = (m: number, group: number): number =>
  Math.ceil(Math.ceil(m / group) / 8);

/** Bitmap with one bit per `group` elements (group 1: exact support; 4: the coarser 4-bit index). */
export function supportBitmap(x: Float32Array, group: number): Uint8Array {
  const bits = new Uint8Array(bitmapBytes(x.length, group));
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== 0) {
      const g = (i / group) | 0;
      bits[g >> 3] |= 1 << (g & 7);
    }
  }
  return bits;
}

/** Positions of S (ascending) from a bitmap over n elements, into `out` when it is large enough. */
export function supportOf(
  bits: Uint8Array,
  n: number,
  group: number,
  out?: Uint32Array,
): Uint32Array {
  const groups = Math.ceil(n / group);
  let count = 0;
  for (let g = 0; g < groups; g++)
    if (bits[g >> 3] & (1 << (g & 7))) count += Math.min(n, (g + 1) * group) - g * group;
  const s = out && out.length >= count ? out.subarray(0, count) : new Uint32Array(count);
  for (let g = 0, k = 0; g < groups; g++) {
    if (!(bits[g >> 3] & (1 << (g & 7)))) continue;
    const end = Math.min(n, (g + 1) * group);
    for (let i = g * group; i < end; i++) s[k++] = i;
  }
  return s;
}

// ---- sketch -------------------------------------------------------------------------------

const hashed = new Int32Array(HASHES);

/**
 * Adds code q of element i into its h buckets of a table split into parts of `part` buckets
 * (wrapping int32 arithmetic); `offset` is `seedOffset` of the table's seed.
 */
export function addCode(
  table: Int32Array,
  part: number,
  i: number,
  q: number,
  offset: number,
): void {
  bucketsOf(i, part, offset, hashed, 0);
  table[hashed[0]] = (table[hashed[0]] + q) | 0;
  table[hashed[1]] = (table[hashed[1]] + q) | 0;
  table[hashed[2]] = (table[hashed[2]] + q) | 0;
}

/**
 * A table of `size` buckets holding x's non-zeros as codes (v * scale, rounded and clamped to
 * `limit`). Tables of several ranks sum (with wrap-around) to the table of their summed codes.
 */
export function buildSketch(
  x: Float32Array,
  size: number,
  seed: number,
  scale: number,
  limit = Infinity,
  table = new Int32Array(size),
): Int32Array {
  table.fill(0);
  const part = table.length / HASHES;
  const offset = seedOffset(seed);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== 0) addCode(table, part, i, encodeValue(v, scale, limit), offset);
  }
  return table;
}

export interface PeelResult {
  values: Float32Array;
  /** |S| and how many of them peeled exactly. */
  support: number;
  peeled: number;
}

/** Working memory of `peel`, reusable across calls (grown on demand). */
export class PeelScratch {
  private count = new Int32Array(0);
  private idxXor = new Int32Array(0);
  private buckets = new Uint32Array(0);
  private resolved = new Uint8Array(0);
  private queue = new Int32Array(0);

  arrays(size: number, support: number) {
    if (this.count.length < size) {
      this.count = new Int32Array(size);
      this.idxXor = new Int32Array(size);
    }
    if (this.resolved.length < support) {
      this.resolved = new Uint8Array(support);
      this.buckets = new Uint32Array(support * HASHES);
    }
    // Every bucket is queued at most once at the start and once per decrement to 1.
    if (this.queue.length < size + support * HASHES)
      this.queue = new Int32Array(size + support * HASHES);
    return {
      count: this.count.subarray(0, size).fill(0),
      idxXor: this.idxXor.subarray(0, size).fill(0),
      buckets: this.buckets.subarray(0, support * HASHES),
      resolved: this.resolved.subarray(0, support).fill(0),
      queue: this.queue,
    };
  }
}

/**
 * Recovers the summed values at S from a summed table, exact for every element that peels.
 * `table` is consumed (peeling subtracts in place). `values` (length n) receives the values at S
 * and is left untouched elsewhere.
 */
export function peel(
  table: Int32Array,
  support: Uint32Array,
  n: number,
  seed: number,
  scale: number,
  values: Float32Array = new Float32Array(n),
  scratch: PeelScratch = new PeelScratch(),
  /** Largest |sum of one element's codes| (ranks x code limit): decides which residues are unwrapped. */
  elementLimit = 2 ** 31 / ESTIMATE_LOAD,
): PeelResult {
  const size = table.length;
  const part = size / HASHES;
  const m = support.length;
  const { count, idxXor, buckets, resolved, queue } = scratch.arrays(size, m);
  const offset = seedOffset(seed);
  for (let s = 0; s < m; s++) {
    bucketsOf(support[s], part, offset, buckets, s * HASHES);
    for (let k = s * HASHES; k < s * HASHES + HASHES; k++) {
      const b = buckets[k];
      count[b]++;
      idxXor[b] ^= s;
    }
  }
  let head = 0;
  for (let b = 0; b < size; b++) if (count[b] === 1) queue[head++] = b;
  let peeled = 0;
  while (head > 0) {
    const b = queue[--head];
    if (count[b] !== 1) continue;
    const s = idxXor[b];
    if (resolved[s]) continue;
    const v = table[b]; // int32: the element's exact sum of codes
    resolved[s] = 1;
    peeled++;
    values[support[s]] = v / scale;
    for (let k = 0; k < HASHES; k++) {
      const o = buckets[s * HASHES + k];
      table[o] = (table[o] - v) | 0;
      count[o]--;
      idxXor[o] ^= s;
      if (count[o] === 1) queue[head++] = o;
    }
  }
  // Estimate what did not peel: the median of its buckets' residues, shared by the unresolved
  // elements still in each bucket. A residue is only read where it cannot have wrapped (load x
  // element limit < 2^31); with no such bucket the estimate is 0 (and the probe reports it).
  if (peeled < m) {
    const limit = 2 ** 31;
    for (let s = 0; s < m; s++) {
      if (resolved[s]) continue;
      // Up to three residues, kept in locals: this loop runs for most of the support when a
      // table is overloaded, and an array per element (push, sort) made decoding 10x slower.
      let k = 0;
      let a = 0;
      let b = 0;
      let c = 0;
      for (let h = s * HASHES; h < s * HASHES + HASHES; h++) {
        const bucket = buckets[h];
        const load = count[bucket];
        if (load * elementLimit >= limit) continue;
        const r = table[bucket] / load;
        if (k === 0) a = r;
        else if (k === 1) b = r;
        else c = r;
        k++;
      }
      const median =
        k === 0
          ? 0
          : k === 1
            ? a
            : k === 2
              ? (a + b) / 2
              : Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
      values[support[s]] = median / scale;
    }
  }
  return { values, support: m, peeled };
}
