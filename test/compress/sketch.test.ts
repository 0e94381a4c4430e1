import { describe, expect, it } from 'vitest';
import { chunkOffsets } from '../../engine/comm/collectives.js';
import {
  bucketOf,
  buildSketch,
  fixedPointBits,
  fixedScale,
  peel,
  supportBitmap,
  supportOf,
  tableSize,
} from '../../engine/compress/sketch/count-sketch.js';
import type { Compressor, Segment } from '../../engine/compress/compressor.js';
import { createLhc } from '../../engine/compress/methods/lhc.js';
import { compressedMask } from '../../engine/compress/sketch/sketch-flow.js';
import {
  createTagc,
  DEFAULT_POLICY,
  dynamicSparsify,
  ladderThreshold,
  THRESHOLD_LADDER,
} from '../../engine/compress/methods/tagc.js';
import { MODEL_PRESETS, unitSpecs } from '../../engine/model/gpt.js';
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
    // Each rank hashes only its own non-zeros: the zeros of the global support add nothing.
    const tables = ints.map((x) => buildSketch(x, T, 5, 1));
    const added = new Int32Array(T);
    for (const t of tables) for (let i = 0; i < T; i++) added[i] += t[i];
    const direct = buildSketch(isum, T, 5, 1);
    expect(Buffer.from(added.buffer).equals(Buffer.from(direct.buffer))).toBe(true);
    expect(S.length).toBeGreaterThan(0);
    void sum;
  });

  it('decodes exactly (to fp32 summation order) when the global support is at most 0.7x the table', () => {
    const xs = [0, 1, 2, 3].map((r) => sparseVec(n, Math.floor((0.7 * T) / 4.2), 20 + r));
    const S = supportOf(orBitmaps(xs.map((x) => supportBitmap(x, 1))), n, 1);
    expect(S.length).toBeLessThanOrEqual(0.7 * T);
    const absmax = Math.max(...xs.map((x) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    const scale = fixedScale(absmax, fixedPointBits(4));
    const table = new Int32Array(T);
    for (const x of xs) buildSketch(x, T, 9, scale).forEach((v, i) => (table[i] += v));
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
    const r = peel(buildSketch(x, T, 3, 1000), S, n, 3, 1000);
    expect(r.support).toBe(S.length);
    expect(r.peeled).toBeLessThan(S.length);
    expect(r.peeled / r.support).toBeLessThan(0.5);
    for (const i of S) expect(Number.isFinite(r.values[i])).toBe(true);
  });

  it('peels exactly even where bucket sums wrap around int32 (only each element must fit)', () => {
    const m = 30_000;
    const size = tableSize(m, 2);
    // Positive values in [0.5, 1] with codes up to 2^29 per rank: every element's sum over 4
    // ranks fits in int32, while a bucket holding 5 or more elements passes 2^31.
    const xs = [0, 1, 2, 3].map((r) =>
      sparseVec(m, Math.floor(0.15 * size), 40 + r).map((v) =>
        v === 0 ? 0 : 0.5 + 0.5 * Math.min(1, Math.abs(v) / 3),
      ),
    );
    const S = supportOf(orBitmaps(xs.map((x) => supportBitmap(x, 1))), m, 1);
    const scale = 0.999 * 2 ** 29;
    const table = new Int32Array(size);
    for (const x of xs) buildSketch(x, size, 2, scale).forEach((v, i) => (table[i] += v));
    const codes = (i: number): number => xs.reduce((a, x) => a + Math.round(x[i] * scale), 0);
    const trueSums = new Float64Array(size);
    for (const i of S)
      for (let k = 0; k < 3; k++) trueSums[bucketOf(i, k, size / 3, 2)] += codes(i);
    expect(trueSums.filter((v) => Math.abs(v) >= 2 ** 31).length).toBeGreaterThan(10);
    const r = peel(table, S, m, 2, scale);
    expect(r.peeled).toBe(S.length);
    for (const i of S) expect(r.values[i]).toBe(Math.fround(codes(i) / scale));
  });

  it('the 4-bit index marks groups of four elements', () => {
    const x = new Float32Array(16);
    x[5] = 1;
    expect([...supportOf(supportBitmap(x, 4), 16, 4)]).toEqual([4, 5, 6, 7]);
  });
});

/** A unit of one mlp matrix (compressed by the default policy), an attention matrix and a norm. */
const segments = [
  { offset: 0, shape: [256, 256], cls: 'mlp' as const },
  { offset: 256 * 256, shape: [64, 192], cls: 'attention' as const },
  { offset: 256 * 256 + 64 * 192, shape: [64], cls: 'norm' as const },
];
const n = 256 * 256 + 64 * 192 + 64;
const chunks = chunkOffsets(n, 4, 1);
const mask = compressedMask(n, segments, (s) => s.cls === 'mlp');
/** Correlated gradients across ranks (as in data parallelism) keep the union support small. */
const correlated = (len: number, seed: number): Float32Array[] => {
  const g = gaussian(seed);
  const common = Float32Array.from({ length: len }, () => g() * 1e-2);
  return [0, 1, 2, 3].map(() => common.map((v) => v + g() * 1e-4));
};

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

  it('the one-pass ladder threshold is the bisection over the ladder, at rung values, zeros, NaN and signs', () => {
    const below = (x: Float32Array, t: number) =>
      x.filter((v) => v < t && v > -t).length / x.length;
    const bisect = (x: Float32Array, f: number): number => {
      const L = THRESHOLD_LADDER;
      if (below(x, L[L.length - 1]) < f) return L[L.length - 1];
      let lo = 0;
      let hi = L.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (below(x, L[mid]) >= f) hi = mid;
        else lo = mid + 1;
      }
      return L[lo];
    };
    const r = rng(77);
    for (let trial = 0; trial < 40; trial++) {
      const x = Float32Array.from({ length: 500 }, () => {
        const u = r();
        if (u < 0.1) return 0;
        if (u < 0.12) return NaN;
        const rung = THRESHOLD_LADDER[Math.floor(r() * THRESHOLD_LADDER.length)];
        const v = u < 0.4 ? rung : rung * (0.5 + r());
        return r() < 0.5 ? -v : v;
      });
      for (const f of [0.1, 0.5, 0.8, 0.95, 1]) expect(ladderThreshold(x, f)).toBe(bisect(x, f));
    }
  });

  it('on 4 ranks, each owner gets the exact sum of the sparsified inputs when peeling succeeds; the policy sends exactly the named layers compressed', async () => {
    const c = tagc();
    const inputs = correlated(n, 8);
    const res = await round(c, inputs, segments, 'u1');
    expect(mask.reduce((a, b) => a + b, 0)).toBe(256 * 256);
    const sentSum = sumOf(res.map((r) => r.sent));
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
    const meanRatio = meanOf(res.map((r) => r.stats!.compressedWireRatio));
    expect(meanRatio).toBeGreaterThan(0.3);
    expect(meanRatio).toBeLessThanOrEqual(0.6);
    // Exact (fp32) positions are sent unchanged; compressed positions are the sparsified ones.
    for (let i = 0; i < n; i++) if (!mask[i]) expect(res[0].sent[i]).toBe(inputs[0][i]);
    expect(res[0].sent.filter((v, i) => mask[i] && v === 0).length).toBeGreaterThanOrEqual(
      0.8 * 256 * 256 - 1,
    );
  });

  it("scales step t by step t-1's agreed max; a value past the headroom is clamped and `sent` says so (error feedback keeps the rest)", async () => {
    const c = tagc();
    await round(c, correlated(n, 9), segments, 'u2');
    const inputs = correlated(n, 10);
    const spike = 30_000; // a compressed (mlp) position
    expect(mask[spike]).toBe(1);
    for (const x of inputs) x[spike] = 10; // ~100x the previous step's max
    const res = await round(c, inputs, segments, 'u2');
    const sentSum = sumOf(res.map((r) => r.sent));
    for (const r of res) {
      expect(r.sent[spike]).toBeGreaterThan(0);
      expect(r.sent[spike]).toBeLessThan(1); // clamped at SCALE_HEADROOM x the previous max
    }
    const owner = chunks.findIndex((c0, j) => spike >= c0 && spike < chunks[j + 1]);
    res.forEach((r, k) => {
      expect(r.stats!.peelRate).toBe(1);
      let worst = 0;
      for (let i = chunks[k]; i < chunks[k + 1]; i++)
        if (mask[i]) worst = Math.max(worst, Math.abs(r.chunk[i - chunks[k]] - sentSum[i]));
      expect(worst).toBeLessThan(1e-6);
    });
    expect(res[owner].chunk[spike - chunks[owner]]).toBeCloseTo(sentSum[spike], 6);
  });

  it('a step with non-finite values does not spoil the scale of the steps after it', async () => {
    const c = tagc();
    await round(c, correlated(n, 11), segments, 'u3');
    const bad = correlated(n, 12);
    bad[0][100] = Infinity;
    bad[1][200] = NaN;
    await round(c, bad, segments, 'u3');
    const inputs = correlated(n, 13);
    const res = await round(c, inputs, segments, 'u3');
    const sentSum = sumOf(res.map((r) => r.sent));
    // Kept values are encoded at a scale from finite maxima: close to the input, not clamped.
    const kept = res[0].sent.findIndex((v, i) => mask[i] && v !== 0);
    expect(Math.abs(res[0].sent[kept] - inputs[0][kept])).toBeLessThan(1e-6);
    res.forEach((r, k) => {
      expect(r.stats!.peelRate).toBe(1);
      let worst = 0;
      for (let i = chunks[k]; i < chunks[k + 1]; i++)
        if (mask[i]) worst = Math.max(worst, Math.abs(r.chunk[i - chunks[k]] - sentSum[i]));
      expect(worst).toBeLessThan(1e-6);
    });
  });

  it("on 2 nodes x 2 ranks, merging inside the node first gives every owner the flat exchange's sum, and halves the bytes that cross nodes", async () => {
    const inputs = correlated(n, 14);
    const flat = await round(tagc(), inputs, segments, 'h1');
    const crossFlat = crossNodeBytes();
    const byNode = await round(tagc(2), inputs, segments, 'h1');
    const crossByNode = crossNodeBytes();
    byNode.forEach((r, k) => {
      expect(r.stats!.peelRate).toBe(1);
      expect(r.sent).toEqual(flat[k].sent);
      let worst = 0;
      for (let i = 0; i < r.chunk.length; i++)
        worst = Math.max(worst, Math.abs(r.chunk[i] - flat[k].chunk[i]));
      expect(worst).toBeLessThan(1e-6);
    });
    // Flat: every rank sends both remote owners' parts across; by node: one merged part each.
    expect(crossByNode / crossFlat).toBeGreaterThan(0.45);
    expect(crossByNode / crossFlat).toBeLessThan(0.55);
  });

  it("keeps every unit of micro's model that compresses at <= 0.6x its fp32 reduce-scatter bytes", async () => {
    const config = { ...MODEL_PRESETS.micro, vocab: 65, tied: true };
    const c = tagc();
    const ratios: number[] = [];
    for (const [u, spec] of unitSpecs(config).entries()) {
      let offset = 0;
      const segs = spec.params.map((p) => {
        const s = { offset, shape: p.shape, cls: p.cls };
        offset += p.shape.reduce((a, b) => a * b, 1);
        return s;
      });
      const padded = Math.ceil(offset / 4) * 4;
      const res = await round(c, correlated(padded, 20 + u), segs, `m${u}`);
      const r = res.map((x) => x.stats!.compressedWireRatio).filter((x) => x !== undefined);
      if (r.length) ratios.push(meanOf(r));
    }
    expect(ratios.length).toBe(5); // embedding and 4 blocks; the tied head has only norms
    for (const r of ratios) expect(r, ratios.join(', ')).toBeLessThanOrEqual(0.6);
  });
});

describe('LHC', () => {
  it('on 4 ranks, every owner gets the exact sum of what the ranks sent when peeling succeeds', async () => {
    const c = createLhc({ density: 0.05, indexBits: 1, compressRatio: 2 });
    const inputs = [0, 1, 2, 3].map((r) => sparseVec(n, 6000, 50 + r).map((v) => v + 1e-6 * r));
    for (let step = 0; step < 2; step++) {
      const res = await round(c, inputs, segments, 'l1');
      const sentSum = sumOf(res.map((r) => r.sent));
      res.forEach((r, k) => {
        expect(r.stats!.peelRate).toBe(1);
        let worst = 0;
        for (let i = chunks[k]; i < chunks[k + 1]; i++)
          worst = Math.max(worst, Math.abs(r.chunk[i - chunks[k]] - sentSum[i]));
        expect(worst).toBeLessThan(1e-6);
      });
      expect(res[0].sent.filter((v) => v !== 0).length).toBe(Math.ceil(0.05 * n));
    }
  });
});

const tagc = (ranksPerNode?: number) =>
  createTagc({
    sparsifyFraction: 0.8,
    indexBits: 1,
    compressRatio: 2,
    policy: DEFAULT_POLICY,
    ranksPerNode,
  });

/** Bytes the all-to-alls of `round` sent between ranks of different nodes (2 per node) since the last call. */
let crossed = 0;
function crossNodeBytes(): number {
  const b = crossed;
  crossed = 0;
  return b;
}

const sumOf = (xs: Float32Array[]): Float32Array => {
  const out = new Float32Array(xs[0].length);
  for (const x of xs) for (let i = 0; i < x.length; i++) out[i] += x[i];
  return out;
};

const meanOf = (xs: (number | undefined)[]): number =>
  xs.reduce<number>((a, b) => a + (b ?? NaN), 0) / xs.length;

/** One reduction round of `c` over 4 in-process ranks. */
function round(c: Compressor, inputs: Float32Array[], segments: Segment[], key: string) {
  const chunks = chunkOffsets(inputs[0].length, 4, 1);
  crossed = 0;
  return Promise.all(
    localComms(4).map((comm, r) =>
      c.communicate!(inputs[r], {
        comm: {
          ...comm,
          allToAllV: (parts: Uint8Array[], ranks?: number[]) => {
            parts.forEach((p, i) => {
              const to = ranks ? ranks[i] : i;
              if (to >> 1 !== r >> 1) crossed += p.byteLength;
            });
            return comm.allToAllV(parts, ranks);
          },
        },
        group: [0, 1, 2, 3],
        index: r,
        chunks,
        segments,
        ctx: { key, step: 0, rank: r, sharedSeed: 1, localSeed: r },
      }),
    ),
  );
}
