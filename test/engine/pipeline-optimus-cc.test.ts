import { describe, expect, it } from 'vitest';
import {
  LowRankBackprop,
  fusedEmbeddingSync,
  parseOptimusCcParams,
} from '../../engine/compress/optimus-cc.js';
import { createPowerSgd } from '../../engine/compress/powersgd.js';
import { ErrorFeedback } from '../../engine/parallel/error-feedback.js';
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
    expect(() => parseOptimusCcParams({ rank: 0 })).toThrow(/methods\[optimus-cc\]\.params\.rank/);
    expect(() => parseOptimusCcParams({ fuse: true })).toThrow(/optimus-cc/);
    expect(parseOptimusCcParams({})).toMatchObject({
      rank: 4,
      compressBackprop: true,
      lazyError: true,
      fuseEmbedding: true,
      selective: true,
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
