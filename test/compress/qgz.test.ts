import { describe, expect, it } from 'vitest';
import { chunkOffsets } from '../../engine/comm/collectives.js';
import { createQgz } from '../../engine/compress/methods/qgz.js';
import { gaussian } from '../../engine/util/rng.js';
import { relativeError } from '../../engine/util/vector.js';
import { localComms } from '../helpers/local-comm.js';

const BLOCK = 64;
const N = 1001;

function randn(n: number, seed: number): Float32Array {
  const g = gaussian(seed);
  return Float32Array.from({ length: n }, () => g());
}

/** Blockwise int8 round trip by the book: scale max|x| / 127 per block, codes round(x / scale). */
function quantized(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b * BLOCK < x.length; b++) {
    const blk = x.subarray(b * BLOCK, (b + 1) * BLOCK);
    const max = blk.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    blk.forEach(
      (v, i) => (out[b * BLOCK + i] = max > 0 ? Math.round(v * (127 / max)) * (max / 127) : 0),
    );
  }
  return out;
}

const concat = (parts: Float32Array[]): Float32Array => {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** qgZ on 2 nodes x 2 ranks, plainly: node sums of quantised columns, then quantised per owner. */
function reference(inputs: Float32Array[], chunks: number[]): Float32Array[] {
  const nodes = [
    [0, 1],
    [2, 3],
  ];
  const column = (q: number): number[] => nodes.map((n) => n[q]);
  const chunk = (x: Float32Array, j: number): Float32Array => x.subarray(chunks[j], chunks[j + 1]);
  // nodeSum[n][q]: node n's sum of the chunks of column q.
  const nodeSum = nodes.map((node) =>
    [0, 1].map((q) => {
      const parts = node.map((r) => quantized(concat(column(q).map((j) => chunk(inputs[r], j)))));
      return parts.reduce((a, p) => a.map((v, i) => v + p[i]));
    }),
  );
  return [0, 1, 2, 3].map((j) => {
    const q = j % 2;
    const nodeIndex = Math.floor(j / 2);
    const off = column(q)
      .slice(0, nodeIndex)
      .reduce((a, k) => a + chunks[k + 1] - chunks[k], 0);
    const len = chunks[j + 1] - chunks[j];
    return nodes
      .map((_, n) => quantized(nodeSum[n][q].slice(off, off + len)))
      .reduce((a, p) => a.map((v, i) => v + p[i]));
  });
}

async function runQgz(ranksPerNode: number, inputs: Float32Array[], chunks: number[]) {
  const c = createQgz({ bits: 8, block: BLOCK, ranksPerNode });
  const comms = localComms(4);
  return Promise.all(
    comms.map((comm, r) =>
      c.communicate!(inputs[r].slice(), {
        comm,
        group: [0, 1, 2, 3],
        index: r,
        chunks,
        segments: [],
        ctx: { key: 'u0', step: 0, rank: r, sharedSeed: 1, localSeed: 2 + r },
      }),
    ),
  );
}

describe('qgZ hierarchical quantised reduction', () => {
  const inputs = [0, 1, 2, 3].map((r) => randn(N, 10 + r));
  const chunks = chunkOffsets(N, 4, 1);
  const exact = inputs.reduce((a, x) => a.map((v, i) => v + x[i]));

  it('2 nodes x 2: every owner gets the plain two-level reference, close to the exact sum', async () => {
    const got = await runQgz(2, inputs, chunks);
    const want = reference(inputs, chunks);
    got.forEach((res, j) => {
      expect(res.chunk.length).toBe(chunks[j + 1] - chunks[j]);
      // The SIMD quantiser rounds in f32: a value on a tie may land one code away.
      res.chunk.forEach((v, i) =>
        expect(Math.abs(v - want[j][i]), `owner ${j} i=${i}`).toBeLessThan(0.05),
      );
      const close = res.chunk.filter((v, i) => Math.abs(v - want[j][i]) < 1e-5).length;
      expect(close / res.chunk.length).toBeGreaterThan(0.98);
    });
    const all = new Float32Array(N);
    got.forEach((res, j) => all.set(res.chunk, chunks[j]));
    expect(relativeError(all, exact)).toBeLessThan(0.02);
    // Each rank sends 1/2 of the vector inside the node and 1/4 across: ~3/4 of N bytes plus scales.
    for (const res of got) expect(res.wireBytes).toBeLessThan(N * 0.75 * 1.1);
  });

  it('one node: a flat quantised all-to-all, close to the exact sum', async () => {
    const got = await runQgz(4, inputs, chunks);
    const all = new Float32Array(N);
    got.forEach((res, j) => all.set(res.chunk, chunks[j]));
    expect(relativeError(all, exact)).toBeLessThan(0.02);
  });
});
