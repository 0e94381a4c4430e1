/**
 * PowerSGD (Vogels et al., NeurIPS 2019), one power-iteration step per training step, per 2-D
 * weight gradient M (n x m):
 *   1. P = M Q                  (Q warm-started from the previous step)
 *   2. all-reduce P; orthonormalise P (Gram-Schmidt)
 *   3. Q = M^T P; all-reduce Q
 *   4. M_hat = P Q^T            (approximates the sum of every rank's M)
 * Vectors (biases, norms), padding and matrices that would not shrink go uncompressed in one
 * fp32 all-reduce. Bytes per matrix: r (n + m) instead of n m.
 */
import { gaussian, mixSeed } from '../../util/rng.js';
import {
  roundsOnlyCodec,
  type Compressor,
  type RoundsIo,
  type RoundsResult,
} from '../compressor.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';

interface Matrix {
  offset: number;
  n: number;
  m: number;
}

function hashKey(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return h >>> 0;
}

/** Orthonormalises the r columns of P (n x r, row-major) in place. */
export function orthonormalize(P: Float32Array, n: number, r: number): void {
  for (let c = 0; c < r; c++) {
    for (let prev = 0; prev < c; prev++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += P[i * r + c] * P[i * r + prev];
      for (let i = 0; i < n; i++) P[i * r + c] -= dot * P[i * r + prev];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += P[i * r + c] * P[i * r + c];
    norm = Math.sqrt(norm);
    // A zero column (rank-deficient M) stays zero rather than dividing by zero.
    if (norm > 1e-12) for (let i = 0; i < n; i++) P[i * r + c] /= norm;
    else for (let i = 0; i < n; i++) P[i * r + c] = 0;
  }
}

/** out (n x r) = M (n x m) Q (m x r). */
export function mulMQ(
  M: Float32Array,
  n: number,
  m: number,
  Q: Float32Array,
  r: number,
  out: Float32Array,
): void {
  out.fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      const a = M[i * m + j];
      if (a === 0) continue;
      for (let c = 0; c < r; c++) out[i * r + c] += a * Q[j * r + c];
    }
}

/** out (m x r) = M^T P. */
export function mulMtP(
  M: Float32Array,
  n: number,
  m: number,
  P: Float32Array,
  r: number,
  out: Float32Array,
): void {
  out.fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      const a = M[i * m + j];
      if (a === 0) continue;
      for (let c = 0; c < r; c++) out[j * r + c] += a * P[i * r + c];
    }
}

/** out (n x m) = P (n x r) Q^T (Q: m x r): the rank-r approximation. */
export function mulPQt(
  P: Float32Array,
  n: number,
  Q: Float32Array,
  m: number,
  r: number,
  out: Float32Array,
): void {
  for (let a = 0; a < n; a++)
    for (let b = 0; b < m; b++) {
      let s = 0;
      for (let c = 0; c < r; c++) s += P[a * r + c] * Q[b * r + c];
      out[a * m + b] = s;
    }
}

export function createPowerSgd(rank: number): Compressor {
  const warm = new Map<string, Float32Array>();

  const communicate = async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
    const { comm, group, index, chunks, segments, ctx } = io;
    const r = rank;
    const mats: Matrix[] = segments
      .filter(
        (s) => s.shape.length === 2 && r * (s.shape[0] + s.shape[1]) < s.shape[0] * s.shape[1],
      )
      .map((s) => ({ offset: s.offset, n: s.shape[0], m: s.shape[1] }));
    const covered = new Uint8Array(p.length);
    for (const mt of mats) covered.fill(1, mt.offset, mt.offset + mt.n * mt.m);
    const rest: number[] = [];
    for (let i = 0; i < p.length; i++) if (!covered[i]) rest.push(i);

    const Qs = mats.map((mt) => {
      const key = `${ctx.key}@${mt.offset}`;
      let Q = warm.get(key);
      if (!Q) {
        const g = gaussian(mixSeed(hashKey(key), 7)); // identical on every rank
        Q = Float32Array.from({ length: mt.m * r }, () => g());
        warm.set(key, Q);
      }
      return Q;
    });
    const pLen = mats.reduce((a, mt) => a + mt.n * r, 0);
    const qLen = mats.reduce((a, mt) => a + mt.m * r, 0);
    const P = new Float32Array(pLen);
    const view = (mt: Matrix): Float32Array => p.subarray(mt.offset, mt.offset + mt.n * mt.m);
    // Step 1: P = M Q.
    let off = 0;
    mats.forEach((mt, i) => {
      mulMQ(view(mt), mt.n, mt.m, Qs[i], r, P.subarray(off, off + mt.n * r));
      off += mt.n * r;
    });
    // Step 2: all-reduce P (and, in the same round, the uncompressed rest); orthonormalise.
    const restVals = Float32Array.from(rest, (i) => p[i]);
    const both = new Float32Array(pLen + restVals.length);
    both.set(P);
    both.set(restVals, pLen);
    await comm.allReduce(both, { ranks: group });
    off = 0;
    mats.forEach((mt) => {
      orthonormalize(both.subarray(off, off + mt.n * r), mt.n, r);
      off += mt.n * r;
    });
    // Step 3: Q = M^T P, all-reduce Q.
    const Qall = new Float32Array(qLen);
    let po = 0;
    let qo = 0;
    mats.forEach((mt) => {
      mulMtP(
        view(mt),
        mt.n,
        mt.m,
        both.subarray(po, po + mt.n * r),
        r,
        Qall.subarray(qo, qo + mt.m * r),
      );
      po += mt.n * r;
      qo += mt.m * r;
    });
    await comm.allReduce(Qall, { ranks: group });
    // Step 4: M_hat = P Q^T (the sum over ranks); keep Q for the next step's warm start.
    const sum = new Float32Array(p.length);
    po = 0;
    qo = 0;
    mats.forEach((mt, i) => {
      const Pm = both.subarray(po, po + mt.n * r);
      const Qm = Qall.subarray(qo, qo + mt.m * r);
      mulPQt(Pm, mt.n, Qm, mt.m, r, sum.subarray(mt.offset, mt.offset + mt.n * mt.m));
      Qs[i].set(Qm);
      po += mt.n * r;
      qo += mt.m * r;
    });
    rest.forEach((i, j) => (sum[i] = both[pLen + j]));
    // Error feedback uses this rank's share of the aggregate approximation (as the reference hook does).
    const n = group.length;
    const sent = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) sent[i] = covered[i] ? sum[i] / n : p[i];
    const ring = (bytes: number): number => (bytes * 2 * (n - 1)) / n;
    return {
      chunk: sum.slice(chunks[index], chunks[index + 1]),
      sent,
      wireBytes: ring(both.byteLength) + ring(Qall.byteLength),
    };
  };

  return {
    id: 'powersgd',
    pattern: 'rounds',
    sparse: false,
    ...roundsOnlyCodec('powersgd'),
    communicate,
  };
}

export const powersgd = defineMethod({
  kind: 'gradient',
  id: 'powersgd',
  order: 80,
  label: 'PowerSGD',
  description: 'rank-r factors P and Q of every weight matrix, all-reduced; vectors uncompressed',
  params: z.object({ rank: z.number().int().min(1).max(8).default(4) }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'rounds',
  create: (p) => createPowerSgd(p.rank),
});
