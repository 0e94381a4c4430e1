/**
 * How LHC and TAGC move a unit's gradient: compressed positions as bitmap index (OR-aggregated)
 * plus count sketch (summed, peeled by the receiver); positions a layer policy keeps exact go as
 * fp32 to their owner. The two methods differ in the sketch flow:
 * - LHC (whole unit): all-reduce the index and the sketch of the whole vector; every rank peels
 *   everything and keeps its chunk.
 * - TAGC (sharded): per owner chunk r, r's index and r's sketch go to r only, in one all-to-all
 *   whose part for r also carries r's exact positions: r ORs the bitmaps, sums the int32 tables
 *   (a reduce to r) and peels. Each byte crosses the network once and only goes where it is needed.
 *
 * Across nodes (two or more, with two or more ranks each) TAGC can merge the parts inside each node
 * first: the tables are integers and the bitmaps ORed, so a node's merged part is exactly what its
 * ranks' parts add up to at the owner, and each owner then gets one part per node instead of one
 * per rank (the same two levels as qgZ, without any decoding in between).
 *
 * No collective waits for another one, so a unit's whole reduction is issued at once and travels
 * while backward computes the next unit (as FSDP's reduce-scatter does). Two things make that
 * possible: a rank's sketch holds only its own non-zeros (the zeros of the global support add
 * nothing), so it can be built before the support is known; and the fixed-point scale of step t
 * comes from the max |value| all ranks reported in step t-1 (carried in the same messages), so it
 * is agreed without a round trip. The first step of a unit agrees on its scale with one all-reduce.
 * The reference pipelines owner r+1's sparsification with owner r's sketch reduction; here all
 * owners' parts leave in one call, and the overlap is with the next unit's backward instead.
 *
 * The index and the sketch cover only the positions the layer policy compresses: every rank knows
 * the mask, so the exact positions cost no index bits (and counted as zeros they would let the
 * sparsifier keep almost every compressed value).
 */
import { ownBytes } from '../bits/bits.js';
import { nodeGrid, placeIn } from '../node-grid.js';
import type { RoundsIo, RoundsResult, Segment } from '../compressor.js';
import {
  addCode,
  bitmapBytes,
  codeLimit,
  encodeValue,
  fixedPointBits,
  fixedScale,
  peel,
  PeelScratch,
  HASHES,
  seedOffset,
  supportOf,
  tableSize,
} from './count-sketch.js';

export interface SketchFlowOptions {
  sharded: boolean;
  /**
   * The magnitude below which the values of one block (an owner chunk, or LHC's whole unit) are
   * dropped; `x` is scratch the method may reorder.
   */
  threshold: (x: Float32Array) => number;
  /** Elements per index bit: 1 (1-bit index) or 4 (4-bit index: one bit per group of four). */
  indexGroup: 1 | 4;
  compressRatio: number;
  /** Which parameter segments go through the sketch (the rest travel exact). */
  compresses: (segment: Segment) => boolean;
  /**
   * Sharded flow only: ranks per node when the parts are to be merged inside each node before
   * they cross nodes (see `exchangeByNode`); absent: one flat all-to-all.
   */
  ranksPerNode?: number;
}

export interface SketchStats {
  /**
   * Elements of the global support decoded by peeling, over all elements of the support (absent
   * where this rank's block had an empty support).
   */
  peelRate?: number;
  /** Fraction of the unit's values that went through the sketch. */
  compressedFraction: number;
  /**
   * Wire bytes spent on the compressed values (index, scales, sketch) over what an fp32
   * reduce-scatter of the same values sends; the exact positions are left out of both (absent
   * for a unit without compressed values).
   */
  compressedWireRatio?: number;
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

/**
 * Runs of positions in [lo, hi) where mask equals `want`, relative to lo, as (start, length)
 * pairs: the policy decides per parameter segment, so a block is a few contiguous runs and every
 * copy below is a handful of memcpys rather than an indexed loop.
 */
function runsOf(mask: Uint8Array, lo: number, hi: number, want: 0 | 1): Uint32Array {
  const out: number[] = [];
  for (let i = lo; i < hi;) {
    if (mask[i] !== want) {
      i++;
      continue;
    }
    const start = i;
    while (i < hi && mask[i] === want) i++;
    out.push(start - lo, i - start);
  }
  return Uint32Array.from(out);
}

/** Positions covered by (start, length) runs. */
function runsLength(runs: Uint32Array): number {
  let m = 0;
  for (let r = 1; r < runs.length; r += 2) m += runs[r];
  return m;
}

/** Copies src's values at the runs (relative to `base`) into dst, one after another. */
function gatherRuns(src: Float32Array, base: number, runs: Uint32Array, dst: Float32Array): void {
  for (let r = 0, k = 0; r < runs.length; r += 2) {
    dst.set(src.subarray(base + runs[r], base + runs[r] + runs[r + 1]), k);
    k += runs[r + 1];
  }
}

/** Copies src's values at the runs (relative to `base`) to the same positions of dst. */
function copyRuns(src: Float32Array, base: number, runs: Uint32Array, dst: Float32Array): void {
  for (let r = 0; r < runs.length; r += 2) {
    const at = base + runs[r];
    dst.set(src.subarray(at, at + runs[r + 1]), at);
  }
}

/** Adds consecutive values to dst at the runs (the inverse of `gatherRuns`, summing). */
function addAtRuns(dst: Float32Array, runs: Uint32Array, vals: Float32Array): void {
  for (let r = 0, k = 0; r < runs.length; r += 2) {
    const start = runs[r];
    const len = runs[r + 1];
    for (let i = 0; i < len; i++) dst[start + i] += vals[k + i];
    k += len;
  }
}

const align4 = (b: number): number => (b + 3) & ~3;

/** A stretch of the unit that gets one index and one sketch: an owner chunk (TAGC) or the unit (LHC). */
interface Block {
  lo: number;
  /** Compressed positions as (start relative to lo, length) runs, and how many there are in all. */
  runs: Uint32Array;
  m: number;
  /** The block's compressed values this step (reused). */
  vals: Float32Array;
  tableSize: number;
  /** Bytes of the bitmap, padded so that the table after it is 4-byte aligned. */
  bitmapBytes: number;
  /** Hash seed: differs between blocks so collisions do not repeat across owners. */
  seed: number;
}

/** Byte offsets in an owner's part: absmax vector at e, bitmap at a, table at t; total bytes. */
interface PartLayout {
  e: number;
  a: number;
  t: number;
  bytes: number;
}

/** What stays fixed for one unit between steps (positions, sizes, buffers) and the agreed scales. */
interface UnitState {
  n: number;
  chunks: number[];
  mask: Uint8Array;
  compressed: number;
  blocks: Block[];
  /** Exact positions of each owner chunk as runs relative to the chunk start, and their count. */
  exact: Uint32Array[];
  exactCount: number[];
  /** Max |value| of each block over all ranks in the last step: the reference of the scales. */
  agreed?: Float32Array;
  sent: Float32Array;
  /**
   * TAGC: this rank's outgoing part for each owner (the all-to-all copies them when issued), laid
   * out as [exact fp32 | this rank's max |value| of every block | bitmap | table] at these offsets.
   */
  parts: Uint8Array[];
  layout: PartLayout[];
  /** The owner's OR of the bitmaps and sum of the tables of its block. */
  ownerBits: Uint8Array;
  ownerTable: Int32Array;
  decoded: Float32Array;
  support: Uint32Array;
  peelScratch: PeelScratch;
}

/** Per-unit state of one rank's LHC or TAGC compressor, kept across steps. */
export class SketchFlowState {
  private readonly units = new Map<string, UnitState>();

  /** State of one unit on one rank (several in-process ranks may share a compressor). */
  unit(p: Float32Array, io: RoundsIo, o: SketchFlowOptions): UnitState {
    const { chunks, segments, group } = io;
    const key = `${io.ctx.rank}:${io.ctx.key}`;
    const u = this.units.get(key);
    if (u && u.sent.length === p.length && u.chunks.every((c, i) => c === chunks[i])) return u;
    const mask = compressedMask(p.length, segments, o.compresses);
    const spans = o.sharded ? group.map((_, j) => [chunks[j], chunks[j + 1]]) : [[0, p.length]];
    const blocks = spans.map(([lo, hi], j): Block => {
      const runs = runsOf(mask, lo, hi, 1);
      const m = runsLength(runs);
      return {
        lo,
        runs,
        m,
        vals: new Float32Array(m),
        tableSize: tableSize(m, o.compressRatio),
        bitmapBytes: align4(bitmapBytes(m, o.indexGroup)),
        seed: j + 1,
      };
    });
    let compressed = 0;
    for (let i = 0; i < mask.length; i++) compressed += mask[i];
    const largest = Math.max(...blocks.map((b) => b.m));
    const exact = group.map((_, j) => runsOf(mask, chunks[j], chunks[j + 1], 0));
    const exactCount = exact.map(runsLength);
    const n = group.length;
    const layout = o.sharded
      ? blocks.map((b, j): PartLayout => {
          const e = exactCount[j] * 4;
          const a = e + 4 * n;
          const t = a + b.bitmapBytes;
          return { e, a, t, bytes: t + 4 * b.tableSize };
        })
      : [];
    const own = o.sharded ? blocks[io.index] : undefined;
    const fresh: UnitState = {
      n,
      chunks: [...chunks],
      mask,
      compressed,
      blocks,
      exact,
      exactCount,
      sent: new Float32Array(p.length),
      parts: layout.map((L) => new Uint8Array(L.bytes)),
      layout,
      ownerBits: new Uint8Array(own?.bitmapBytes ?? 0),
      ownerTable: new Int32Array(own?.tableSize ?? 0),
      decoded: new Float32Array(largest),
      support: new Uint32Array(largest),
      peelScratch: new PeelScratch(),
    };
    this.units.set(key, fresh);
    return fresh;
  }
}

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

/**
 * Max |v| over the finite values of x[from, to), compared as bit patterns (non-negative floats
 * order like their bits): one non-finite gradient (a step the trainer skips) must not become
 * every later step's scale, so NaN and infinities (exponent 255) are left out.
 */
function finiteAbsMax(x: Float32Array, from: number, to: number): number {
  const bits = new Int32Array(x.buffer, x.byteOffset, x.length);
  let m = 0;
  for (let i = from; i < to; i++) {
    const a = bits[i] & 0x7fffffff;
    if (a > m && a < 0x7f800000) m = a;
  }
  I32[0] = m;
  return F32[0];
}

/** Max |p| over each block's compressed positions (the kept values always include the max). */
function blockAbsmax(p: Float32Array, blocks: Block[]): Float32Array {
  const out = new Float32Array(blocks.length);
  blocks.forEach((b, j) => {
    for (let r = 0; r < b.runs.length; r += 2) {
      const start = b.lo + b.runs[r];
      out[j] = Math.max(out[j], finiteAbsMax(p, start, start + b.runs[r + 1]));
    }
  });
  return out;
}

/**
 * Sparsifies one block and writes its bitmap and sketch (codes at the agreed scale); `sent`
 * receives what this rank contributes (the clamped codes, decoded), 0 where nothing is sent.
 * Returns the block's max |value| (the reference of next step's scale). Passes over the block:
 * gather (memcpy), max, threshold, encode; the encode pass does all of a kept value's work.
 */
function encodeBlock(
  p: Float32Array,
  b: Block,
  threshold: (x: Float32Array) => number,
  group: number,
  scale: number,
  limit: number,
  bits: Uint8Array,
  table: Int32Array,
  sent: Float32Array,
): number {
  const { runs, vals, lo } = b;
  gatherRuns(p, lo, runs, vals);
  const absmax = finiteAbsMax(vals, 0, vals.length);
  const t = threshold(vals);
  bits.fill(0);
  table.fill(0);
  const part = table.length / HASHES;
  const offset = seedOffset(b.seed);
  for (let r = 0, k = 0; r < runs.length; r += 2) {
    const start = lo + runs[r];
    const end = start + runs[r + 1];
    for (let i = start; i < end; i++, k++) {
      const v = p[i];
      // Dropped (or NaN): contributes nothing; encodeValue's rounding may also give 0.
      if ((v < t && v > -t) || v !== v) {
        sent[i] = 0;
        continue;
      }
      const q = encodeValue(v, scale, limit);
      sent[i] = q / scale;
      if (q === 0) continue;
      const g = group === 1 ? k : (k / group) | 0;
      bits[g >> 3] |= 1 << (g & 7);
      addCode(table, part, k, q, offset);
    }
  }
  return absmax;
}

/** Writes a block's decoded values (by compressed position) to `out`, which starts at `base`. */
function scatterBlock(b: Block, values: Float32Array, out: Float32Array, base: number): void {
  for (let r = 0, k = 0; r < b.runs.length; r += 2) {
    const start = b.lo + b.runs[r] - base;
    for (let i = 0; i < b.runs[r + 1]; i++, k++) {
      const at = start + i;
      if (at >= 0 && at < out.length) out[at] = values[k];
    }
  }
}

/** Peels a block's summed table; returns the decoded values (by compressed position) and counts. */
function decodeBlock(
  u: UnitState,
  b: Block,
  bits: Uint8Array,
  table: Int32Array,
  group: number,
  scale: number,
  elementLimit: number,
) {
  const m = b.m;
  const values = u.decoded.subarray(0, m).fill(0);
  const S = supportOf(bits, m, group, u.support);
  return peel(table, S, m, b.seed, scale, values, u.peelScratch, elementLimit);
}

/**
 * The 4-byte-aligned memory of `len` words at byte `offset` of a received part: a view where the
 * part allows one, else a copy (received parts may be Node Buffers at any offset of a pool).
 */
function wordsAt(
  part: Uint8Array,
  offset: number,
  len: number,
): ArrayBuffer | [ArrayBufferLike, number] {
  const at = part.byteOffset + offset;
  if (at % 4 === 0) return [part.buffer, at];
  return ownBytes(part, offset, offset + 4 * len).buffer as ArrayBuffer;
}

function f32At(part: Uint8Array, offset: number, len: number): Float32Array {
  const w = wordsAt(part, offset, len);
  return Array.isArray(w) ? new Float32Array(w[0], w[1], len) : new Float32Array(w, 0, len);
}

function i32At(part: Uint8Array, offset: number, len: number): Int32Array {
  const w = wordsAt(part, offset, len);
  return Array.isArray(w) ? new Int32Array(w[0], w[1], len) : new Int32Array(w, 0, len);
}

/**
 * Folds another rank's (or node's) part for one owner into `acc` (4-byte aligned): exact values
 * and tables summed, the max |value| reports maxed, bitmaps ORed. What the owner then peels is the
 * same as if it had received both parts (the exact fp32 sums round in another order).
 */
function mergePart(
  acc: Uint8Array,
  part: Uint8Array,
  L: PartLayout,
  exactCount: number,
  n: number,
) {
  const ex = new Float32Array(acc.buffer, acc.byteOffset, exactCount);
  const exIn = f32At(part, 0, exactCount);
  for (let i = 0; i < exactCount; i++) ex[i] += exIn[i];
  const rep = new Float32Array(acc.buffer, acc.byteOffset + L.e, n);
  const repIn = f32At(part, L.e, n);
  for (let j = 0; j < n; j++) if (repIn[j] > rep[j]) rep[j] = repIn[j];
  for (let i = L.a; i < L.t; i++) acc[i] |= part[i];
  const words = (L.bytes - L.t) / 4;
  const table = new Int32Array(acc.buffer, acc.byteOffset + L.t, words);
  const tableIn = i32At(part, L.t, words);
  for (let i = 0; i < words; i++) table[i] = (table[i] + tableIn[i]) | 0;
}

interface Exchanged {
  /** Parts for this rank's own chunk: one per rank (flat) or per node (merged inside nodes). */
  received: Uint8Array[];
  /** Bytes this rank sent to other ranks, and how many of them were exact values. */
  wireBytes: number;
  exactBytes: number;
  /** Time spent merging parts between the two levels. */
  mergeMs: number;
}

/** One all-to-all: every owner's part goes straight to it. */
async function exchangeFlat(u: UnitState, io: RoundsIo): Promise<Exchanged> {
  let wireBytes = 0;
  let exactBytes = 0;
  u.layout.forEach((L, j) => {
    if (j === io.index) return;
    wireBytes += L.bytes;
    exactBytes += L.e;
  });
  const received = await io.comm.allToAllV(u.parts, io.group);
  return { received, wireBytes, exactBytes, mergeMs: 0 };
}

/**
 * Two-level exchange of the owners' parts on a group laid out as nodes x positions. Inside the
 * node, the rank at position q gets the parts for the owners at position q of every node, and
 * merges them into one part per owner (its node's); across nodes, each merged part goes to its
 * owner. Per rank, 1/ranks-per-node of the parts cross nodes, where the flat all-to-all sends every
 * remote owner's part.
 */
async function exchangeByNode(u: UnitState, io: RoundsIo, grid: number[][]): Promise<Exchanged> {
  const { comm, group, index } = io;
  const { node, pos, column } = placeIn(grid, index);
  const { parts, layout } = u;
  let wireBytes = 0;
  let exactBytes = 0;
  const outgoing = node.map((peer, q) => {
    const owners = column(q);
    const out = new Uint8Array(owners.reduce((a, j) => a + layout[j].bytes, 0));
    let at = 0;
    for (const j of owners) {
      out.set(parts[j], at);
      at += layout[j].bytes;
      if (peer !== index) exactBytes += layout[j].e;
    }
    if (peer !== index) wireBytes += out.byteLength;
    return out;
  });
  const fromNode = await comm.allToAllV(
    outgoing,
    node.map((i) => group[i]),
  );
  const m0 = performance.now();
  const owners = column(pos);
  let at = 0;
  const merged = owners.map((j) => {
    const L = layout[j];
    // A copy (Buffer#slice would be a view into received memory): 4-byte aligned, ours to fold into.
    const acc = new Uint8Array(fromNode[0].subarray(at, at + L.bytes));
    for (let k = 1; k < fromNode.length; k++)
      mergePart(acc, fromNode[k].subarray(at, at + L.bytes), L, u.exactCount[j], u.n);
    at += L.bytes;
    if (j !== index) {
      wireBytes += L.bytes;
      exactBytes += L.e;
    }
    return acc;
  });
  comm.recycle(fromNode);
  const mergeMs = performance.now() - m0;
  const received = await comm.allToAllV(
    merged,
    owners.map((i) => group[i]),
  );
  return { received, wireBytes, exactBytes, mergeMs };
}

export async function sketchFlow(
  p: Float32Array,
  io: RoundsIo,
  o: SketchFlowOptions,
  state: SketchFlowState,
): Promise<RoundsResult> {
  const { comm, group, index } = io;
  const n = group.length;
  const u = state.unit(p, io, o);
  const { blocks, chunks, exact, sent } = u;
  let encodeMs = 0;
  let decodeMs = 0;
  let wireBytes = 0;
  const ring = (bytes: number): number => (bytes * 2 * (n - 1)) / n;

  // The first step of a unit agrees on the scales' reference with one all-reduce.
  if (!u.agreed) {
    u.agreed = await comm.allReduce(blockAbsmax(p, blocks), { op: 'max', ranks: group });
    wireBytes += ring(4 * blocks.length);
  }
  const bitsOf = fixedPointBits(n);
  const limit = codeLimit(bitsOf);
  const scales = Array.from(u.agreed, (a) => fixedScale(a, bitsOf));
  const elementLimit = n * limit;
  const chunk = new Float32Array(chunks[index + 1] - chunks[index]);
  let exactBytes = 0;
  let peeled = 0;
  let support = 0;

  const t0 = performance.now();
  const absmax = new Float32Array(blocks.length);
  if (o.sharded) {
    const { layout, parts } = u;
    blocks.forEach((b, j) => {
      const L = layout[j];
      const part = parts[j];
      const ex = new Float32Array(part.buffer, 0, u.exactCount[j]);
      gatherRuns(p, chunks[j], exact[j], ex);
      copyRuns(p, chunks[j], exact[j], sent);
      absmax[j] = encodeBlock(
        p,
        b,
        o.threshold,
        o.indexGroup,
        scales[j],
        limit,
        new Uint8Array(part.buffer, L.a, b.bitmapBytes),
        new Int32Array(part.buffer, L.t, b.tableSize),
        sent,
      );
    });
    for (let j = 0; j < n; j++) new Float32Array(parts[j].buffer, layout[j].e, n).set(absmax);
    encodeMs += performance.now() - t0;
    const grid = o.ranksPerNode ? nodeGrid(group, o.ranksPerNode) : undefined;
    const x = grid ? await exchangeByNode(u, io, grid) : await exchangeFlat(u, io);
    const received = x.received;
    wireBytes += x.wireBytes;
    exactBytes += x.exactBytes;
    decodeMs += x.mergeMs;

    const d0 = performance.now();
    const b = blocks[index];
    const L = layout[index];
    const bits = u.ownerBits.fill(0);
    const sum = u.ownerTable.fill(0);
    const next = new Float32Array(n);
    const ex = exact[index];
    for (const part of received) {
      addAtRuns(chunk, ex, f32At(part, 0, u.exactCount[index]));
      const reported = f32At(part, L.e, n);
      for (let j = 0; j < n; j++) if (reported[j] > next[j]) next[j] = reported[j];
      for (let i = 0; i < b.bitmapBytes; i++) bits[i] |= part[L.a + i];
      const t = i32At(part, L.t, b.tableSize);
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] + t[i]) | 0;
    }
    comm.recycle(received);
    const r = decodeBlock(u, b, bits, sum, o.indexGroup, scales[index], elementLimit);
    scatterBlock(b, r.values, chunk, chunks[index]);
    u.agreed = next;
    peeled = r.peeled;
    support = r.support;
    decodeMs += performance.now() - d0;
  } else {
    const b = blocks[0];
    const bits = new Uint8Array(b.bitmapBytes);
    const table = new Int32Array(b.tableSize);
    absmax[0] = encodeBlock(p, b, o.threshold, o.indexGroup, scales[0], limit, bits, table, sent);
    // Exact positions (none under LHC's own policy) go to their owners as fp32.
    const anyExact = u.exactCount.some((c) => c > 0);
    const exactParts = exact.map((e, j) => {
      const vals = new Float32Array(u.exactCount[j]);
      gatherRuns(p, chunks[j], e, vals);
      copyRuns(p, chunks[j], e, sent);
      if (j !== index) exactBytes += vals.byteLength;
      return new Uint8Array(vals.buffer);
    });
    encodeMs += performance.now() - t0;
    const bitsP = comm.allReduce(bits, { op: 'bor', ranks: group });
    const tableP = comm.allReduce(table, { ranks: group });
    const absP = comm.allReduce(absmax, { op: 'max', ranks: group });
    const exactP = anyExact ? comm.allToAllV(exactParts, group) : undefined;
    wireBytes += ring(bits.byteLength) + ring(table.byteLength) + ring(4) + exactBytes;
    const [S, summed, next, received] = await Promise.all([bitsP, tableP, absP, exactP]);

    const d0 = performance.now();
    const r = decodeBlock(u, b, S, summed, o.indexGroup, scales[0], elementLimit);
    scatterBlock(b, r.values, chunk, chunks[index]);
    for (const part of received ?? [])
      addAtRuns(chunk, exact[index], f32At(part, 0, u.exactCount[index]));
    if (received) comm.recycle(received);
    u.agreed = next;
    peeled = r.peeled;
    support = r.support;
    decodeMs += performance.now() - d0;
  }

  // A figure only where it means something: a unit (or owner) without compressed values has no
  // wire ratio or peel rate, and reporting 1 or 0 there would skew the per-step means over units.
  const stats: SketchStats & Record<string, number> = {
    compressedFraction: u.compressed / p.length,
  };
  if (support > 0) stats.peelRate = peeled / support;
  if (u.compressed > 0 && n > 1)
    stats.compressedWireRatio = (wireBytes - exactBytes) / ((u.compressed * 4 * (n - 1)) / n);
  return { chunk, sent, wireBytes, encodeMs, decodeMs, stats };
}
