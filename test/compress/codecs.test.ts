import { describe, expect, it, vi } from 'vitest';
import { chunkOffsets } from '../../engine/comm/collectives.js';
import {
  ScratchPool,
  type CodecContext,
  type Compressor,
} from '../../engine/compress/compressor.js';
import { f32ArrayToF16, f32ToF16Bits } from '../../engine/comm/f16.js';
import { quantizeBlocks } from '../../engine/compress/blockwise-int.js';
import { f32ToF16Array } from '../../engine/compress/methods/fp16.js';
import { METHODS, methodInfo, parseMethodParams } from '../../engine/compress/registry.js';
import { setSimdKernels, simdAvailable } from '../../engine/compress/kernels/simd-kernels.js';
import { createPowerSgd, orthonormalize } from '../../engine/compress/methods/powersgd.js';
import { topKIndices } from '../../engine/compress/bits/select.js';
import { gaussian, rng } from '../../engine/util/rng.js';
import { relativeError as relErr } from '../../engine/util/vector.js';
import { localComms } from '../helpers/local-comm.js';

const env = { world: 4, warmupSteps: 0, gradClip: 1e9 };
const make = (id: string, params: Record<string, unknown> = {}): Compressor =>
  methodInfo(id).create(parseMethodParams(id, params), env);
const ctx = (over: Partial<CodecContext> = {}): CodecContext => ({
  key: 't',
  step: 0,
  rank: 0,
  sharedSeed: 11,
  localSeed: 12,
  ...over,
});

function randn(n: number, seed: number, scale = 1): Float32Array {
  const g = gaussian(seed);
  return Float32Array.from({ length: n }, () => g() * scale);
}

const roundTrip = (c: Compressor, x: Float32Array, cx = ctx()): Float32Array =>
  c.decode(c.encode(x, cx), x.length, cx);

describe('codec round trips', () => {
  const x = randn(100_003, 1, 0.01);

  it('fp16 and bf16 relative error below 1e-3 and 1e-2', () => {
    expect(relErr(roundTrip(make('fp16'), x), x)).toBeLessThan(1e-3);
    expect(relErr(roundTrip(make('bf16'), x), x)).toBeLessThan(1e-2);
  });

  it('int8 blockwise relative error below 1e-2; int4 below 0.15; payload sizes', () => {
    const i8 = make('int8');
    expect(relErr(roundTrip(i8, x), x)).toBeLessThan(1e-2);
    expect(i8.encode(x, ctx()).byteLength).toBe(Math.ceil(x.length / 256) * 4 + x.length);
    const i4 = make('int4');
    expect(relErr(roundTrip(i4, x), x)).toBeLessThan(0.15);
    expect(i4.encode(x, ctx()).byteLength).toBe(
      Math.ceil(x.length / 256) * 4 + Math.ceil(x.length / 2),
    );
  });

  it('top-k keeps exactly the k largest magnitudes and nothing else', () => {
    const c = make('topk', { ratio: 0.01 });
    const y = roundTrip(c, x);
    const k = Math.ceil(0.01 * x.length);
    const kept = [...y.keys()].filter((i) => y[i] !== 0);
    expect(kept).toHaveLength(k);
    const sorted = Float32Array.from(x, Math.abs).sort();
    const kth = sorted[sorted.length - k];
    for (const i of kept) {
      expect(y[i]).toBe(x[i]);
      expect(Math.abs(x[i])).toBeGreaterThanOrEqual(kth);
    }
    expect(topKIndices(Float32Array.of(1, -5, 5, 2), 2)).toEqual(Uint32Array.of(1, 2));
  });

  it('decodes payloads that arrive as pooled Node Buffers (views into a shared slab)', () => {
    const small = randn(300, 9, 0.01);
    for (const m of METHODS.filter((m) => m.pattern() !== 'rounds')) {
      const c = make(m.id);
      const enc = c.encode(small, ctx());
      // Small Buffers are carved out of one pool: byteOffset != 0 and .buffer is the whole slab.
      Buffer.alloc(13);
      const pooled = Buffer.from(enc);
      expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
      const want = c.decode(enc, small.length, ctx());
      expect(relErr(c.decode(pooled, small.length, ctx()), want), m.id).toBe(0);
      if (c.aggregate) {
        const agg = c.aggregate([pooled, Buffer.from(enc)], small.length);
        expect(
          relErr(
            c.decode(agg, small.length, ctx()),
            want.map((v) => 2 * v),
          ),
          m.id,
        ).toBeLessThan(1e-3);
      }
    }
  });

  it('encoding into reused payload memory gives the same bytes', () => {
    const pool = new ScratchPool();
    for (const id of ['fp16', 'bf16', 'int8', 'int4', 'topk']) {
      const c = make(id);
      const scratch = pool.forKey(id);
      const fresh = c.encode(x, ctx());
      const reused = c.encode(x, ctx({ scratch }));
      expect(Buffer.from(reused).equals(Buffer.from(fresh)), id).toBe(true);
      expect(relErr(c.decode(reused, x.length, ctx()), roundTrip(c, x))).toBe(0);
    }
  });

  it('top-k selection on large vectors equals a full sort, ties by position', () => {
    const reference = (v: Float32Array, k: number): Uint32Array =>
      Uint32Array.from(
        [...v.keys()].sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]) || a - b).slice(0, k),
      ).sort();
    const big = randn(300_007, 5);
    // Heavy ties: a few distinct magnitudes, so the k-th value is shared by many positions.
    const tied = Float32Array.from(big, (v) => Math.round(v * 2) / 2);
    // Structure the strided sample sees differently from the rest (large values off the stride).
    const skewed = Float32Array.from({ length: 262_144 }, (_, i) =>
      i % 16 === 3 ? 5 + (i % 7) : i % 5,
    );
    for (const v of [big, tied, skewed])
      for (const k of [1, 300, 3001, Math.floor(v.length / 8)])
        expect(topKIndices(v, k)).toEqual(reference(v, k));
  });

  it("signSGD keeps signs and each block's mean magnitude (1 bit per value)", () => {
    const c = make('signsgd', { block: 64 });
    const y = roundTrip(c, x);
    for (let i = 0; i < 1000; i++) expect(Math.sign(y[i])).toBe(Math.sign(x[i]) || 1);
    let l1x = 0;
    let l1y = 0;
    for (let i = 0; i < 64; i++) {
      l1x += Math.abs(x[i]);
      l1y += Math.abs(y[i]);
    }
    expect(l1y).toBeCloseTo(l1x, 5);
    expect(c.encode(x, ctx()).byteLength).toBe(
      Math.ceil(x.length / 64) * 4 + Math.ceil(x.length / 8),
    );
  });

  it.each(['qsgd', 'terngrad'])(
    '%s is unbiased: the mean of 2000 draws approaches the input',
    (id) => {
      const c = make(id);
      const v = randn(64, 5);
      const mean = new Float64Array(v.length);
      const draws = 2000;
      for (let d = 0; d < draws; d++) {
        const y = roundTrip(c, v, ctx({ localSeed: 1000 + d }));
        for (let i = 0; i < v.length; i++) mean[i] += y[i] / draws;
      }
      // Per-coordinate variance is at most (bucket scale)^2; 2000 draws shrink its std by ~45x.
      let scale = 0;
      for (const a of v) scale = Math.max(scale, Math.abs(a));
      const norm = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      const tol = (4 * Math.max(scale, norm / 16)) / Math.sqrt(draws);
      for (let i = 0; i < v.length; i++) expect(Math.abs(mean[i] - v[i])).toBeLessThan(tol);
    },
  );

  it('every registered method validates its parameters by name', () => {
    // The method, the field and the allowed range (or the choices) are all in the message.
    expect(() => parseMethodParams('topk', { ratio: 2 })).toThrow(
      /methods\[topk\]\.params\.ratio: .*<=1/,
    );
    expect(() => parseMethodParams('dgc', { sparsity: 1 })).toThrow(
      /methods\[dgc\]\.params\.sparsity: .*<1/,
    );
    expect(() => parseMethodParams('topk', { ratoi: 0.1 })).toThrow(/methods\[topk\].*"ratoi"/);
    expect(() => parseMethodParams('powersgd', { rank: 0 })).toThrow(
      /methods\[powersgd\]\.params\.rank/,
    );
    expect(() => methodInfo('zip')).toThrow(/unknown method "zip"; available: fsdp, fp16, .*dgc/);
    for (const m of METHODS) expect(() => parseMethodParams(m.id, {})).not.toThrow();
  });
});

describe('WebAssembly SIMD encoders agree bit for bit with the JavaScript loops', () => {
  /** Runs f with the kernels off, then on. */
  function bothWays<T>(f: () => T): [js: T, simd: T] {
    setSimdKernels(false);
    try {
      const js = f();
      setSimdKernels(true);
      return [js, f()];
    } finally {
      setSimdKernels(true);
    }
  }

  // Every f16 rounding case: ties (odd/even), the subnormal boundary and spacing, rounding into
  // and out of the subnormals, overflow at 65520, Inf, NaN with payloads, signed zeros.
  const edges = [
    0,
    -0,
    1,
    -1,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    1 + 2 ** -11 + 2 ** -23,
    65504,
    65519.99,
    65520,
    -65520,
    1e6,
    2 ** -14,
    2 ** -14 - 2 ** -24,
    2 ** -14 - 2 ** -25,
    2 ** -24,
    2 ** -25,
    2 ** -25 + 2 ** -40,
    3 * 2 ** -25,
    5 * 2 ** -25,
    2 ** -26,
    1e-45,
    -1e-45,
    2 ** -126,
    Infinity,
    -Infinity,
    NaN,
  ];
  /** Random bit patterns (every class of f32), values across 60 binades, then the edge cases. */
  function awkward(n: number, seed: number): Float32Array {
    const r = rng(seed);
    const x = new Float32Array(n);
    const bits = new Uint32Array(x.buffer);
    for (let i = 0; i < n; i++)
      if (i % 3 === 0) bits[i] = Math.floor(r() * 2 ** 32);
      else x[i] = (r() - 0.5) * 2 ** (Math.floor(r() * 60) - 40);
    if (n < 300) {
      x.set(edges.slice(0, n));
      return x;
    }
    x.set(edges, 100);
    bits[200] = 0x7f800001; // signalling NaN
    bits[201] = 0xffc12345; // negative NaN with payload
    return x;
  }

  it('the kernels load in this runtime (Node 20 has WebAssembly SIMD)', () => {
    expect(simdAvailable()).toBe(true);
  });

  it('without WebAssembly the codecs fall back to the JS loops (same bytes)', async () => {
    const x = awkward(1000, 9);
    const want = Buffer.from(make('int8').encode(x, ctx()));
    vi.stubGlobal('WebAssembly', undefined);
    vi.resetModules();
    try {
      const kernels = await import('../../engine/compress/kernels/simd-kernels.js');
      const registry = await import('../../engine/compress/registry.js');
      expect(kernels.simdAvailable()).toBe(false);
      const int8 = registry.methodInfo('int8').create(parseMethodParams('int8', {}), env);
      expect(Buffer.from(int8.encode(x, ctx())).equals(want)).toBe(true);
      const fp16 = registry.methodInfo('fp16').create({}, env);
      const bits = Uint16Array.from(x, (v) => f32ToF16Bits(v));
      expect(Buffer.from(fp16.encode(x, ctx())).equals(Buffer.from(bits.buffer))).toBe(true);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });

  it('fp16: random bit patterns and every rounding edge, across chunk and tail boundaries', () => {
    for (const n of [5, 8, 37, 16_384 * 2 + 13]) {
      const x = awkward(n, n);
      const [js, simd] = bothWays(() => f32ToF16Array(x));
      expect(Buffer.from(simd.buffer).equals(Buffer.from(js.buffer)), `n = ${n}`).toBe(true);
      // And both equal the scalar reference conversion.
      const scalar = Uint16Array.from(x, (v) => f32ToF16Bits(v));
      expect(Buffer.from(js.buffer).equals(Buffer.from(scalar.buffer))).toBe(true);
      expect(Buffer.from(f32ArrayToF16(x).buffer).equals(Buffer.from(scalar.buffer))).toBe(true);
    }
  });

  it('int8/int4 blockwise: same scales and codes, zero blocks, Inf and NaN blocks, odd blocks', () => {
    const x = awkward(70_000 + 45, 3);
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]) && i > 300) x[i] = 0.5;
    x.fill(0, 1024, 1536); // all-zero blocks
    x.fill(-0, 2048, 2304);
    for (const [block, L] of [
      [256, 127],
      [16, 127],
      [48, 127],
      [100, 127], // not a multiple of 16: JavaScript only
      [256, 7],
      [65536, 127],
    ]) {
      // Stale bytes in reused memory must not survive (zero blocks get zero codes).
      const [js, simd] = bothWays(() =>
        quantizeBlocks(x, block, L, new Int8Array(x.length).fill(99)),
      );
      expect(
        Buffer.from(simd.codes.buffer).equals(Buffer.from(js.codes.buffer)),
        `block ${block}`,
      ).toBe(true);
      expect(Buffer.from(simd.absmax.buffer).equals(Buffer.from(js.absmax.buffer))).toBe(true);
    }
    // The whole payload of the codec, through reused memory.
    const c = make('int8');
    const pool = new ScratchPool();
    const [js, simd] = bothWays(() => Buffer.from(c.encode(x, ctx({ scratch: pool.forKey('k') }))));
    expect(simd.equals(js)).toBe(true);
  });
});

describe('summable formats: the aggregate of encodings is the encoding of the sum', () => {
  const inputs = [0, 1, 2, 3].map((r) => randn(4097, 20 + r, 0.1));
  const sum = inputs[0].map((_, i) => inputs.reduce((a, x) => a + x[i], 0));

  it.each(['fp16', 'bf16'])(
    '%s: aggregate without decoding matches the sum to the format precision',
    (id) => {
      const c = make(id);
      const agg = c.aggregate!(
        inputs.map((x) => c.encode(x, ctx())),
        sum.length,
      );
      expect(relErr(c.decode(agg, sum.length, ctx()), sum)).toBeLessThan(
        id === 'fp16' ? 2e-3 : 2e-2,
      );
    },
  );

  it('random-k: shared positions make the aggregate exactly the encoding of the sum', () => {
    const c = make('randomk', { ratio: 0.05 });
    const agg = c.aggregate!(
      inputs.map((x) => c.encode(x, ctx())),
      sum.length,
    );
    const direct = c.encode(sum, ctx());
    const a = new Float32Array(agg.buffer);
    const d = new Float32Array(direct.slice().buffer);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(d[i], 5);
  });

  it.each([
    ['int8', 'agreed', 2e-2],
    ['int4', 'agreed', 0.2],
    ['randomk', undefined, 0],
  ] as const)(
    '%s %s over 4 ranks (rounds): owners get the sum of what every rank sent',
    async (id, scale, _tol) => {
      const c = make(id, scale ? { scale } : { ratio: 0.05 });
      const comms = localComms(4);
      const chunks = chunkOffsets(sum.length, 4, 1);
      const results = await Promise.all(
        comms.map((comm, r) =>
          c.communicate!(inputs[r], {
            comm,
            group: [0, 1, 2, 3],
            index: r,
            chunks,
            segments: [],
            ctx: ctx({ key: 'u0', rank: r }),
          }),
        ),
      );
      const sentSum = new Float32Array(sum.length);
      for (const res of results) for (let i = 0; i < sum.length; i++) sentSum[i] += res.sent[i];
      results.forEach((res, r) => {
        const want = sentSum.subarray(chunks[r], chunks[r + 1]);
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(res.chunk[i] - want[i])).toBeLessThan(1e-5);
      });
      if (id !== 'randomk') expect(relErr(Float32Array.from(sentSum), sum)).toBeLessThan(_tol);
    },
  );
});

describe('PowerSGD', () => {
  it('reproduces a rank-r matrix to 1e-4 (one power step, summed over 2 ranks)', async () => {
    const n = 48;
    const m = 40;
    const r = 4;
    const A = randn(n * r, 3);
    const B = randn(m * r, 4);
    const M = new Float32Array(n * m);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < m; j++)
        for (let c = 0; c < r; c++) M[i * m + j] += A[i * r + c] * B[j * r + c];
    const halves = [M.map((v) => v * 0.25), M.map((v) => v * 0.75)];
    const c = createPowerSgd(r);
    const comms = localComms(2);
    const chunks = chunkOffsets(n * m, 2, 1);
    const res = await Promise.all(
      comms.map((comm, k) =>
        c.communicate!(halves[k], {
          comm,
          group: [0, 1],
          index: k,
          chunks,
          segments: [{ offset: 0, shape: [n, m] }],
          ctx: ctx({ key: 'w' }),
        }),
      ),
    );
    const got = new Float32Array(n * m);
    got.set(res[0].chunk, 0);
    got.set(res[1].chunk, chunks[1]);
    expect(relErr(got, M)).toBeLessThan(1e-4);
    expect(res[0].wireBytes).toBeLessThan(n * m * 4); // r (n + m) floats, twice, not n m
  });

  it('orthonormalises columns', () => {
    const P = randn(30 * 3, 9);
    orthonormalize(P, 30, 3);
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++) {
        let dot = 0;
        for (let i = 0; i < 30; i++) dot += P[i * 3 + a] * P[i * 3 + b];
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 5);
      }
  });
});
