/**
 * How LHC and TAGC move a unit's gradient: compressed positions as bitmap index (OR-reduced) plus
 * count sketch (sum-reduced, peeled by the receiver); positions a layer policy keeps exact go as
 * fp32 to their owner. The two methods differ in the sketch flow:
 * - LHC (whole unit): all-reduce the index and the sketch of the whole vector; every rank peels
 *   everything and keeps its chunk.
 * - TAGC (sharded): per owner chunk r, all-reduce r's index and reduce r's sketch to r only, so
 *   every sketch byte goes where it is needed; the index and sparsification of chunk r+1 are
 *   computed while chunk r's collectives are in flight.
 */
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
    const vals: number[] = [];
    for (let i = chunks[j]; i < chunks[j + 1]; i++) if (!mask[i]) vals.push(p[i]);
    return new Uint8Array(Float32Array.from(vals).buffer);
  });
  const exactP = comm.allToAllV(exactParts, group);
  exactParts.forEach((part, j) => (wireBytes += j === index ? 0 : part.byteLength));

  // Sparsify only the values that go through the sketch: counting the exact positions as
  // zeros would let the sparsifier keep almost every compressed value.
  const maskedChunk = (lo: number, hi: number): Float32Array => {
    const at: number[] = [];
    for (let i = lo; i < hi; i++) if (mask[i]) at.push(i);
    const kept = o.sparsify(Float32Array.from(at, (i) => p[i]));
    const x = new Float32Array(hi - lo);
    at.forEach((i, k) => (x[i - lo] = kept[k]));
    return x;
  };

  const chunk = new Float32Array(chunks[index + 1] - chunks[index]);
  let peeled = 0;
  let support = 0;
  if (o.sharded) {
    // Index round per owner, issued as soon as that owner's chunk is sparsified.
    const sparse: Float32Array[] = [];
    const indexP: Promise<Uint8Array>[] = [];
    for (let j = 0; j < n; j++) {
      sparse[j] = timed('encode', () => maskedChunk(chunks[j], chunks[j + 1]));
      const bits = timed('encode', () => supportBitmap(sparse[j], o.indexGroup));
      indexP[j] = comm.allReduce(bits, { op: 'bor', ranks: group });
      wireBytes += ring(bits.byteLength);
    }
    // Fixed-point scales: one small all-reduce of every owner chunk's max |value|.
    const absmax = await comm.allReduce(
      Float32Array.from(sparse, (x) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
      { op: 'max', ranks: group },
    );
    wireBytes += ring(absmax.byteLength);
    // Sketch round per owner: reduced to that owner only.
    const sketchP: Promise<Int32Array | null>[] = [];
    const supports: Uint32Array[] = [];
    const scales: number[] = [];
    for (let j = 0; j < n; j++) {
      const len = chunks[j + 1] - chunks[j];
      const bits = await indexP[j];
      supports[j] = timed('encode', () => supportOf(bits, len, o.indexGroup));
      // The table is sized by the values that go through it, not by the whole chunk.
      let compressed = 0;
      for (let i = chunks[j]; i < chunks[j + 1]; i++) compressed += mask[i];
      const size = tableSize(compressed, o.compressRatio);
      const table = timed('encode', () => {
        scales[j] = fixedScale(
          absmax[j],
          fixedPointBits(n, maxBucketLoad(supports[j], size, j + 1)),
        );
        return buildSketch(sparse[j], supports[j], size, j + 1, scales[j]);
      });
      sketchP[j] = comm.reduce(table, group[j], { ranks: group });
      wireBytes += (table.byteLength * (n - 1)) / n + (j === index ? 0 : table.byteLength / n);
      sent.set(sparse[j], chunks[j]);
    }
    const mine = (await Promise.all(sketchP))[index]!;
    const r = timed('decode', () =>
      peel(mine, supports[index], chunk.length, index + 1, scales[index]),
    );
    chunk.set(r.values);
    peeled = r.peeled;
    support = r.support;
  } else {
    const sparse = maskedChunk(0, p.length);
    const bits = await comm.allReduce(supportBitmap(sparse, o.indexGroup), {
      op: 'bor',
      ranks: group,
    });
    const absmax = await comm.allReduce(
      Float32Array.of(sparse.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
      { op: 'max', ranks: group },
    );
    const S = supportOf(bits, p.length, o.indexGroup);
    const size = tableSize(
      mask.reduce((a, b) => a + b, 0),
      o.compressRatio,
    );
    const scale = fixedScale(absmax[0], fixedPointBits(n, maxBucketLoad(S, size, 1)));
    const table = await comm.allReduce(buildSketch(sparse, S, size, 1, scale), { ranks: group });
    wireBytes += ring(bits.byteLength) + ring(table.byteLength) + ring(4);
    const r = timed('decode', () => peel(table, S, p.length, 1, scale));
    chunk.set(r.values.subarray(chunks[index], chunks[index + 1]));
    sent.set(sparse);
    peeled = r.peeled;
    support = r.support;
  }

  // Exact positions of our chunk: the sum of what every rank sent for them.
  const received = await exactP;
  const exactIdx: number[] = [];
  for (let i = chunks[index]; i < chunks[index + 1]; i++)
    if (!mask[i]) exactIdx.push(i - chunks[index]);
  for (const part of received) {
    const vals = new Float32Array(part.slice().buffer);
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
    },
  };
}
