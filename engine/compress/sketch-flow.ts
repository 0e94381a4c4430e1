/**
 * How LHC and TAGC move a unit's gradient: compressed positions as bitmap index (OR-reduced) plus
 * count sketch (sum-reduced, peeled by the receiver); positions a layer policy keeps exact go as
 * fp32 to their owner. The two methods differ in the sketch flow:
 * - LHC (whole unit): all-reduce the index and the sketch of the whole vector; every rank peels
 *   everything and keeps its chunk.
 * - TAGC (sharded): per owner chunk r, all-reduce r's index, and send r's sketch to r only (an
 *   all-to-all of int32 tables that r sums), so every sketch byte crosses the network once and
 *   goes where it is needed; the index and sparsification of chunk r+1 are computed while chunk
 *   r's index round is in flight.
 * The index and the sketch cover only the positions the layer policy compresses.
 */
import { ownBytes } from './bits.js';
import type { RoundsIo, RoundsResult, Segment } from './compressor.js';
import {
  buildSketch,
  fixedPointBits,
  fixedScale,
  maxBucketLoad,
  peel,
  supportBitmap,
  supportOf,
  tableSize,
} from './count-sketch.js';

export interface SketchFlowOptions {
  sharded: boolean;
  /** Drops small values of one chunk (returns a sparse copy). */
  sparsify: (x: Float32Array) => Float32Array;
  /** Elements per index bit: 1 (1-bit index) or 4 (4-bit index: one bit per group of four). */
  indexGroup: 1 | 4;
  compressRatio: number;
  /** Which parameter segments go through the sketch (the rest travel exact). */
  compresses: (segment: Segment) => boolean;
}

export interface SketchStats extends Record<string, number> {
  /** Elements of the global support decoded by peeling, over all elements of the support. */
  peelRate: number;
  /** Fraction of the unit's values that went through the sketch. */
  compressedFraction: number;
  /**
   * Wire bytes spent on the compressed values (index, scales, sketch) over what an fp32
   * reduce-scatter of the same values sends; the exact positions are left out of both.
   */
  compressedWireRatio: number;
}

/** 1 where a position goes through the sketch. Padding (outside every segment) follows the policy-free default: compressed. */
export function compressedMask(
  n: number,
  segments: Segment[],
  compresses: (s: Segment) => boolean,
): Uint8Array {
  const mask = new Uint8Array(n).fill(1);
  for (const s of segments) {
    if (compresses(s)) continue;
    const size = s.shape.reduce((a, b) => a * b, 1);
    mask.fill(0, s.offset, s.offset + size);
  }
  return mask;
}

export async function sketchFlow(
  p: Float32Array,
  io: RoundsIo,
  o: SketchFlowOptions,
): Promise<RoundsResult & { stats: SketchStats & Record<string, number> }> {
  const { comm, group, index, chunks, segments } = io;
  const n = group.length;
  let encodeMs = 0;
  let decodeMs = 0;
  /** Runs `f`, adding its time to encode or decode (waits for collectives are not counted). */
  const timed = <T>(kind: 'encode' | 'decode', f: () => T): T => {
    const t0 = performance.now();
    const r = f();
    if (kind === 'encode') encodeMs += performance.now() - t0;
    else decodeMs += performance.now() - t0;
    return r;
  };
  const mask = compressedMask(p.length, segments, o.compresses);
  const sent = new Float32Array(p.length);
  let wireBytes = 0;
  const ring = (bytes: number): number => (bytes * 2 * (n - 1)) / n;

  // Exact positions: each owner receives the fp32 values of its chunk's exact positions.
  const exactParts = group.map((_, j) => {
    let count = 0;
    for (let i = chunks[j]; i < chunks[j + 1]; i++) count += 1 - mask[i];
    const vals = new Float32Array(count);
    for (let i = chunks[j], k = 0; i < chunks[j + 1]; i++) if (!mask[i]) vals[k++] = p[i];
    return new Uint8Array(vals.buffer);
  });
  const exactP = comm.allToAllV(exactParts, group);
  exactParts.forEach((part, j) => (wireBytes += j === index ? 0 : part.byteLength));
  const exactBytes = wireBytes;

  // Index and sketch cover only the positions that go through the sketch: every rank knows the
  // mask, so the exact positions cost no index bits, and counting them as zeros would let the
  // sparsifier keep almost every compressed value.
  // Typed arrays filled by plain loops: TypedArray.from with a map function or from a number[]
  // goes through the iterator protocol, which cost more than the sketch itself.
  const compressedAt = (lo: number, hi: number): Uint32Array => {
    let count = 0;
    for (let i = lo; i < hi; i++) count += mask[i];
    const at = new Uint32Array(count);
    for (let i = lo, k = 0; i < hi; i++) if (mask[i]) at[k++] = i - lo;
    return at;
  };
  const sparsifyAt = (lo: number, at: Uint32Array): Float32Array => {
    const v = new Float32Array(at.length);
    for (let k = 0; k < at.length; k++) v[k] = p[lo + at[k]];
    return o.sparsify(v);
  };
  const scatter = (dst: Float32Array, lo: number, at: Uint32Array, vals: Float32Array): void => {
    for (let k = 0; k < at.length; k++) dst[lo + at[k]] = vals[k];
  };
  const maxAbs = (x: Float32Array): number => {
    let m = 0;
    for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
    return m;
  };

  const chunk = new Float32Array(chunks[index + 1] - chunks[index]);
  let peeled = 0;
  let support = 0;
  if (o.sharded) {
    // Index round per owner, issued as soon as that owner's chunk is sparsified.
    const at: Uint32Array[] = [];
    const vals: Float32Array[] = [];
    const indexP: Promise<Uint8Array>[] = [];
    for (let j = 0; j < n; j++) {
      at[j] = compressedAt(chunks[j], chunks[j + 1]);
      vals[j] = timed('encode', () => sparsifyAt(chunks[j], at[j]));
      const bits = timed('encode', () => supportBitmap(vals[j], o.indexGroup));
      indexP[j] = comm.allReduce(bits, { op: 'bor', ranks: group });
      wireBytes += ring(bits.byteLength);
      scatter(sent, chunks[j], at[j], vals[j]);
    }
    // Fixed-point scales: one small all-reduce of every owner chunk's max |value|.
    const absmax = await comm.allReduce(Float32Array.from(vals, maxAbs), {
      op: 'max',
      ranks: group,
    });
    wireBytes += ring(absmax.byteLength);
    // Sketch of owner j's chunk goes straight to j (an all-to-all: each table crosses the
    // network once); the owner sums the int32 tables exactly and peels.
    const supports: Uint32Array[] = [];
    const scales: number[] = [];
    const tables: Uint8Array[] = [];
    for (let j = 0; j < n; j++) {
      const bits = await indexP[j];
      supports[j] = timed('encode', () => supportOf(bits, at[j].length, o.indexGroup));
      const size = tableSize(at[j].length, o.compressRatio);
      const table = timed('encode', () => {
        scales[j] = fixedScale(
          absmax[j],
          fixedPointBits(n, maxBucketLoad(supports[j], size, j + 1)),
        );
        return buildSketch(vals[j], supports[j], size, j + 1, scales[j]);
      });
      tables[j] = new Uint8Array(table.buffer, table.byteOffset, table.byteLength);
      if (j !== index) wireBytes += table.byteLength;
    }
    const received = await comm.allToAllV(tables, group);
    const r = timed('decode', () => {
      const sum = new Int32Array(tableSize(at[index].length, o.compressRatio));
      for (const part of received) {
        const t = new Int32Array(ownBytes(part).buffer);
        for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] + t[i]) | 0;
      }
      return peel(sum, supports[index], at[index].length, index + 1, scales[index]);
    });
    scatter(chunk, 0, at[index], r.values);
    peeled = r.peeled;
    support = r.support;
  } else {
    const at = compressedAt(0, p.length);
    const vals = sparsifyAt(0, at);
    const bits = await comm.allReduce(supportBitmap(vals, o.indexGroup), {
      op: 'bor',
      ranks: group,
    });
    const absmax = await comm.allReduce(Float32Array.of(maxAbs(vals)), {
      op: 'max',
      ranks: group,
    });
    const S = supportOf(bits, at.length, o.indexGroup);
    const size = tableSize(at.length, o.compressRatio);
    const scale = fixedScale(absmax[0], fixedPointBits(n, maxBucketLoad(S, size, 1)));
    const table = await comm.allReduce(buildSketch(vals, S, size, 1, scale), { ranks: group });
    wireBytes += ring(bits.byteLength) + ring(table.byteLength) + ring(4);
    const r = timed('decode', () => peel(table, S, at.length, 1, scale));
    const full = new Float32Array(p.length);
    scatter(full, 0, at, r.values);
    chunk.set(full.subarray(chunks[index], chunks[index + 1]));
    scatter(sent, 0, at, vals);
    peeled = r.peeled;
    support = r.support;
  }

  // Exact positions of our chunk: the sum of what every rank sent for them.
  const received = await exactP;
  const exactIdx: number[] = [];
  for (let i = chunks[index]; i < chunks[index + 1]; i++)
    if (!mask[i]) exactIdx.push(i - chunks[index]);
  for (const part of received) {
    const vals = new Float32Array(ownBytes(part).buffer);
    exactIdx.forEach((at, k) => (chunk[at] += vals[k]));
  }
  for (let i = 0; i < p.length; i++) if (!mask[i]) sent[i] = p[i];
  let compressed = 0;
  for (let i = 0; i < mask.length; i++) compressed += mask[i];
  return {
    chunk,
    sent,
    wireBytes,
    encodeMs,
    decodeMs,
    stats: {
      peelRate: support > 0 ? peeled / support : 1,
      compressedFraction: compressed / p.length,
      compressedWireRatio:
        compressed > 0 && n > 1 ? (wireBytes - exactBytes) / ((compressed * 4 * (n - 1)) / n) : 0,
    },
  };
}
