import { describe, expect, it } from 'vitest';
import { chunkOffsets } from '../../engine/comm/collectives.js';
import {
  buildSketch,
  fixedPointBits,
  fixedScale,
  maxBucketLoad,
  peel,
  supportBitmap,
  supportOf,
  tableSize,
} from '../../engine/compress/count-sketch.js';
import { compressedMask } from '../../engine/compress/sketch-flow.js';
import {
  createTagc,
  DEFAULT_POLICY,
  dynamicSparsify,
  ladderThreshold,
  THRESHOLD_LADDER,
} from '../../engine/compress/tagc.js';
import { rng, gaussian } from '../../engine/util/rng.js';
import { localComms } from '../helpers/local-comm.js';

/** A sparse vector: `nnz` random positions with gaussian values. */
function sparseVec(n: number, nnz: number, seed: number): Float32Array {
  const r = rng(seed);
  const g = gaussian(seed + 1);
  const x = new Float32Array(n);
  for (let k = 0; k < nnz; k++) x[Math.floor(r() * n)] = g();
  return x;
}

function orBitmaps(maps: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(maps[0].length);
  for (const m of maps) for (let i = 0; i < m.length; i++) out[i] |= m[i];
  return out;
}

describe('count sketch', () => {
  const n = 200_000;
  const T = tableSize(n, 2);

  it("is homomorphic: the sum of 4 ranks' sketches is the sketch of the summed sparse vectors", () => {
    const xs = [0, 1, 2, 3].map((r) => sparseVec(n, 8000, 10 + r));
    const S = supportOf(orBitmaps(xs.map((x) => supportBitmap(x, 1))), n, 1);
    const sum = new Float32Array(n);
    for (const x of xs) for (let i = 0; i < n; i++) sum[i] += x[i];
    // Integer-valued inputs (as the fixed-point codes are) make the identity exact.
    const ints = xs.map((x) => x.map((v) => Math.round(v * 1000)));
    const isum = ints[0].map((_, i) => ints.reduce((a, x) => a + x[i], 0));
    const tables = ints.map((x) => buildSketch(x, S, T, 5, 1));
    const added = new Int32Array(T);
    for (const t of tables) for (let i = 0; i < T; i++) added[i] += t[i];
    const direct = buildSketch(isum, S, T, 5, 1);
    expect(Buffer.from(added.buffer).equals(Buffer.from(direct.buffer))).toBe(true);
    void sum;
  });

  it('decodes exactly (to fp32 summation order) when the global support is at most 0.7x the table', () => {
    const xs = [0, 1, 2, 3].map((r) => sparseVec(n, Math.floor((0.7 * T) / 4.2), 20 + r));
    const S = supportOf(orBitmaps(xs.map((x) => supportBitmap(x, 1))), n, 1);
    expect(S.length).toBeLessThanOrEqual(0.7 * T);
    const absmax = Math.max(...xs.map((x) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    const scale = fixedScale(absmax, fixedPointBits(4, maxBucketLoad(S, T, 9)));
    const table = new Int32Array(T);
    for (const x of xs) buildSketch(x, S, T, 9, scale).forEach((v, i) => (table[i] += v));
    const r = peel(table, S, n, 9, scale);
    expect(r.peeled).toBe(S.length);
    for (const i of S) {
      // Exact: the sum of the four ranks' fixed-point codes, whatever the peeling order.
      const want = xs.reduce((a, x) => a + Math.round(x[i] * scale), 0) / scale;
      expect(r.values[i]).toBeCloseTo(want, 6);
      expect(Math.abs(r.values[i] - xs.reduce((a, x) => a + x[i], 0))).toBeLessThan(
        (4 * 0.5) / scale + 1e-6,
      );
    }
  });

  it('beyond the peeling limit it estimates what does not peel and reports how much peeled', () => {
    const x = sparseVec(n, Math.floor(1.5 * T), 30);
    const S = supportOf(supportBitmap(x, 1), n, 1);
    const r = peel(buildSketch(x, S, T, 3, 1000), S, n, 3, 1000);
    expect(r.support).toBe(S.length);
    expect(r.peeled).toBeLessThan(S.length);
    expect(r.peeled / r.support).toBeLessThan(0.5);
  });

  it('the 4-bit index marks groups of four elements', () => {
    const x = new Float32Array(16);
    x[5] = 1;
    expect([...supportOf(supportBitmap(x, 4), 16, 4)]).toEqual([4, 5, 6, 7]);
  });
});

describe('TAGC', () => {
  it('dynamic sparsification drops at least the requested fraction using the threshold ladder', () => {
    const g = gaussian(4);
    const x = Float32Array.from({ length: 10_000 }, () => g() * 1e-3);
    const t = ladderThreshold(x, 0.8);
    expect(THRESHOLD_LADDER).toContain(t);
    const y = dynamicSparsify(0.8)(x);
    const zeros = y.filter((v) => v === 0).length / y.length;
    expect(zeros).toBeGreaterThanOrEqual(0.8);
    // The next smaller rung would not have dropped enough.
    const prev = THRESHOLD_LADDER[THRESHOLD_LADDER.indexOf(t) - 1];
    expect(x.filter((v) => Math.abs(v) < prev).length / x.length).toBeLessThan(0.8);
  });

  it('on 4 ranks, each owner gets the exact sum of the sparsified inputs when peeling succeeds; the policy sends exactly the named layers compressed', async () => {
    const c = createTagc({
      sparsifyFraction: 0.8,
      indexBits: 1,
      compressRatio: 2,
      policy: DEFAULT_POLICY,
    });
    const segments = [
      { offset: 0, shape: [256, 256], cls: 'mlp' as const },
      { offset: 256 * 256, shape: [64, 192], cls: 'attention' as const },
      { offset: 256 * 256 + 64 * 192, shape: [64], cls: 'norm' as const },
    ];
    const n = 256 * 256 + 64 * 192 + 64;
    const chunks = chunkOffsets(n, 4, 1);
    const g = gaussian(8);
    // Correlated gradients across ranks (as in data parallelism) keep the union support small.
    const common = Float32Array.from({ length: n }, () => g() * 1e-2);
    const inputs = [0, 1, 2, 3].map(() => common.map((v) => v + g() * 1e-4));
    const comms = localComms(4);
    const res = await Promise.all(
      comms.map((comm, r) =>
        c.communicate!(inputs[r], {
          comm,
          group: [0, 1, 2, 3],
          index: r,
          chunks,
          segments,
          ctx: { key: 'u1', step: 0, rank: r, sharedSeed: 1, localSeed: r },
        }),
      ),
    );
    const mask = compressedMask(n, segments, (s) => s.cls === 'mlp');
    expect(mask.reduce((a, b) => a + b, 0)).toBe(256 * 256);
    const sentSum = new Float32Array(n);
    for (const r of res) for (let i = 0; i < n; i++) sentSum[i] += r.sent[i];
    res.forEach((r, k) => {
      expect(r.stats!.peelRate).toBe(1);
      for (let i = chunks[k]; i < chunks[k + 1]; i++) {
        const want = mask[i] ? sentSum[i] : inputs.reduce((a, x) => a + x[i], 0);
        expect(
          Math.abs(r.chunk[i - chunks[k]] - want),
          `rank ${k} i ${i} mask ${mask[i]}`,
        ).toBeLessThan(1e-6);
      }
    });
    // The compressed layer costs at most 0.6x of its fp32 reduce-scatter bytes (mean over ranks:
    // a rank that owns fewer compressed values sends more sketch bytes to the others).
    const ratios = res.map((r) => r.stats!.compressedWireRatio);
    const meanRatio = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    expect(meanRatio, ratios.join(', ')).toBeGreaterThan(0.3);
    expect(meanRatio, ratios.join(', ')).toBeLessThanOrEqual(0.6);
    // Exact (fp32) positions are sent unchanged; compressed positions are the sparsified ones.
    for (let i = 0; i < n; i++) if (!mask[i]) expect(res[0].sent[i]).toBe(inputs[0][i]);
    expect(res[0].sent.filter((v, i) => mask[i] && v === 0).length).toBeGreaterThanOrEqual(
      0.8 * 256 * 256 - 1,
    );
  });
});
