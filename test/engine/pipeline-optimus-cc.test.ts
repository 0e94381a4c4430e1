import { describe, expect, it } from 'vitest';
import {
  LowRankBackprop,
  RowInt8,
  fusedEmbeddingSync,
  optimusCc,
  relativeError,
} from '../../engine/compress/methods/optimus-cc.js';
import { createPowerSgd } from '../../engine/compress/methods/powersgd.js';
import { ErrorFeedback } from '../../engine/compress/error-feedback.js';
import { gaussian } from '../../engine/util/rng.js';
import { localComms } from '../helpers/local-comm.js';

const randomMatrix = (n: number, seed: number): Float32Array => {
  const g = gaussian(seed);
  return Float32Array.from({ length: n }, () => g());
};

/** A rank-r (rows x cols) matrix: sum of r outer products. */
function lowRankMatrix(rows: number, cols: number, r: number, seed: number): Float32Array {
  const u = randomMatrix(rows * r, seed);
  const v = randomMatrix(cols * r, seed + 1);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++)
      for (let c = 0; c < r; c++) out[i * cols + j] += u[i * r + c] * v[j * r + c];
  return out;
}

const maxAbs = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('compressed backpropagation with lazy error propagation', () => {
  const rows = 48;
  const cols = 32;
  const rank = 2;

  it('sum of what was sent + the final error = sum of the inputs (compressed and exact transfers mixed)', () => {
    const c = new LowRankBackprop(rows, cols, rank, true, 3);
    const inputs = Array.from({ length: 7 }, (_, i) => randomMatrix(rows * cols, 10 + i));
    const sentSum = new Float64Array(rows * cols);
    const inSum = new Float64Array(rows * cols);
    inputs.forEach((g, i) => {
      g.forEach((x, j) => (inSum[j] += x));
      // Micro-batches 2 and 5 are off the critical path: exact, carrying the pending error along.
      const decoded =
        i === 2 || i === 5
          ? c.exact(g)
          : LowRankBackprop.decode(c.encode(g).payload, rows, cols, rank);
      decoded.forEach((x, j) => (sentSum[j] += x));
    });
    let worst = 0;
    for (let j = 0; j < inSum.length; j++)
      worst = Math.max(worst, Math.abs(sentSum[j] + c.error[j] - inSum[j]));
    expect(worst).toBeLessThan(1e-4);
    // The error is real (random matrices are not rank 2) and was not simply zero.
    expect(maxAbs(c.error, new Float32Array(rows * cols))).toBeGreaterThan(0.1);
  });

  it('without lazy error the residual is lost: the sums differ', () => {
    const c = new LowRankBackprop(rows, cols, rank, false, 3);
    const diff = new Float64Array(rows * cols);
    for (let i = 0; i < 4; i++) {
      const g = randomMatrix(rows * cols, 20 + i);
      const d = LowRankBackprop.decode(c.encode(g).payload, rows, cols, rank);
      g.forEach((x, j) => (diff[j] += x - d[j]));
    }
    expect(Math.max(...Array.from(diff, Math.abs))).toBeGreaterThan(0.5);
    expect(maxAbs(c.error, new Float32Array(rows * cols))).toBe(0);
  });

  it('a gradient of rank <= r travels exactly, as r (rows + cols) floats', () => {
    const c = new LowRankBackprop(rows, cols, rank, true, 5);
    const g = lowRankMatrix(rows, cols, rank, 30);
    const { payload, relError } = c.encode(g);
    expect(payload.length).toBe(rank * (rows + cols));
    expect(relError).toBeLessThan(1e-5);
    expect(maxAbs(LowRankBackprop.decode(payload, rows, cols, rank), g)).toBeLessThan(1e-4);
  });

  it('rejects factors that would not shrink the gradient, and bad params by field', () => {
    expect(() => new LowRankBackprop(8, 8, 4)).toThrow(/use a rank below 4/);
    expect(() => optimusCc.create({ rank: 0 })).toThrow(/methods\[optimus-cc\]\.params\.rank/);
    expect(() => optimusCc.create({ fuse: true })).toThrow(/optimus-cc/);
    expect(optimusCc.create({})).toMatchObject({
      rank: 4,
      compressBackprop: true,
      lazyError: true,
      fuseEmbedding: true,
      selective: true,
      int8Transfers: false,
    });
  });
});

describe('fused embedding synchronisation', () => {
  it('every member of both end stages gets the same sum; exact for a low-rank sum, error fed back', async () => {
    const world = 4; // 2 stages x 2 replicas: ranks 0, 2 first stage, 1, 3 last stage
    const comms = localComms(world);
    const V = 24;
    const C = 16;
    const group = [0, 1, 2, 3];
    const base = lowRankMatrix(V, C, 2, 40);
    // Each rank's gradient is a multiple of one rank-2 matrix, so the sum has rank 2 = the factors' rank.
    const grads = group.map((r) => base.map((x) => x * (r + 1)));
    const want = base.map((x) => x * 10);
    const efs = group.map(() => new ErrorFeedback({ mode: 'ef' }));
    const psgd = group.map(() => createPowerSgd(2));
    const res = await Promise.all(
      comms.map((c, r) => fusedEmbeddingSync(grads[r], [V, C], c, group, psgd[r], efs[r], 0)),
    );
    for (const r of res) {
      expect(maxAbs(r.sum, res[0].sum)).toBe(0);
      expect(maxAbs(r.sum, want)).toBeLessThan(1e-3);
      expect(r.wireBytes).toBeLessThan(V * C * 4);
    }
    // Full-rank gradients: compressed, so a residual stays behind for the next step.
    const noisy = group.map((r) => randomMatrix(V * C, 50 + r));
    await Promise.all(
      comms.map((c, r) => fusedEmbeddingSync(noisy[r], [V, C], c, group, psgd[r], efs[r], 1)),
    );
    const e = efs[0].residualOf('tied-embedding')!;
    expect(maxAbs(e, new Float32Array(V * C))).toBeGreaterThan(0.1);
  });
});

/** Plain per-row int8: scale max|x| / 127 per row, codes rounded half up, decoded code x scale. */
function rowInt8Reference(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++) {
    let max = 0;
    for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(x[i * cols + j]));
    for (let j = 0; j < cols; j++) {
      const v = x[i * cols + j];
      out[i * cols + j] = max > 0 ? (Math.floor((v * 127) / max + 0.5) * max) / 127 : 0;
    }
  }
  return out;
}

describe('per-row int8 inter-stage transfers (extension beyond the paper)', () => {
  const rows = 40;
  const cols = 24;

  it('decodes to the plain reference, within half a step of each row, in rows x (4 + cols) bytes', () => {
    const codec = new RowInt8(rows, cols);
    // Rows of very different magnitudes: per-row scales keep small rows precise.
    const x = randomMatrix(rows * cols, 60).map(
      (v, i) => v * 10 ** ((Math.floor(i / cols) % 5) - 2),
    );
    x.fill(0, 3 * cols, 4 * cols); // an all-zero row
    const payload = codec.encode(x);
    expect(payload.byteLength).toBe(rows * 4 + rows * cols);
    expect(codec.payloadBytes).toBe(payload.byteLength);
    const y = codec.decode(payload);
    const ref = rowInt8Reference(x, rows, cols);
    for (let i = 0; i < rows; i++) {
      let max = 0;
      for (let j = 0; j < cols; j++) max = Math.max(max, Math.abs(x[i * cols + j]));
      for (let j = 0; j < cols; j++) {
        const k = i * cols + j;
        expect(Math.abs(y[k] - ref[k])).toBeLessThanOrEqual(1e-6 * max);
        expect(Math.abs(y[k] - x[k])).toBeLessThanOrEqual((max / 127) * 0.5 * (1 + 1e-5));
      }
    }
    expect(Array.from(y.subarray(3 * cols, 4 * cols))).toEqual(new Array(cols).fill(0));
    expect(relativeError(x, y)).toBeLessThan(0.01);
    // Received bytes may sit at any offset of a larger buffer.
    const shifted = new Uint8Array(payload.byteLength + 1);
    shifted.set(payload, 1);
    expect(Array.from(codec.decode(shifted.subarray(1)))).toEqual(Array.from(y));
  });

  it('a non-finite value reaches the receiver as non-finite; wrong sizes are refused', () => {
    const codec = new RowInt8(2, 4);
    const y = codec.decode(codec.encode(Float32Array.of(1, 2, 3, 4, 5, NaN, 7, 8)));
    expect(Array.from(y.subarray(0, 4))).toEqual(
      [1, 2, 3, 4].map((v) => (Math.round((v * 127) / 4) * 4) / 127).map((v) => Math.fround(v)),
    );
    expect(y.subarray(4).some((v) => !Number.isFinite(v))).toBe(true);
    expect(() => codec.encode(new Float32Array(7))).toThrow(/2 x 4 matrix, got 7/);
    expect(() => codec.decode(new Uint8Array(15))).toThrow(/15 bytes, a 2 x 4 one has 16/);
  });

  it('int8 activation gradients with lazy error: what was sent + the error = the inputs', () => {
    const codec = new RowInt8(rows, cols);
    const c = new LowRankBackprop(rows, cols, 2, true, 3);
    const sentSum = new Float64Array(rows * cols);
    const inSum = new Float64Array(rows * cols);
    for (let i = 0; i < 6; i++) {
      const g = randomMatrix(rows * cols, 70 + i);
      g.forEach((x, j) => (inSum[j] += x));
      // Low-rank on the "critical" micro-batches, int8 on the rest.
      const decoded =
        i % 2 === 0
          ? LowRankBackprop.decode(c.encode(g).payload, rows, cols, 2)
          : codec.decode(c.quantize(g, codec).payload);
      decoded.forEach((x, j) => (sentSum[j] += x));
    }
    let worst = 0;
    for (let j = 0; j < inSum.length; j++)
      worst = Math.max(worst, Math.abs(sentSum[j] + c.error[j] - inSum[j]));
    expect(worst).toBeLessThan(1e-4);
    // A rank-0 codec sends int8 or exact only.
    const int8Only = new LowRankBackprop(rows, cols, 0, true, 3);
    expect(() => int8Only.encode(randomMatrix(rows * cols, 80))).toThrow(/no low-rank/);
    const { relError } = int8Only.quantize(randomMatrix(rows * cols, 81), codec);
    expect(relError).toBeGreaterThan(0);
    expect(relError).toBeLessThan(0.02);
  });
});
