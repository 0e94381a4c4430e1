/**
 * random-k: every rank keeps the same k = ratio * n random positions (from a seed shared per step
 * and tensor), so only values travel and they add position by position: summable, reduced with a
 * plain reduce-scatter of the k-value vectors.
 */
import { ownBytes } from '../bits/bits.js';
import { rng } from '../../util/rng.js';
import type { Compressor, RoundsIo, RoundsResult } from '../compressor.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { ratioParam } from '../param-fields.js';

/** k distinct positions in [0, n), ascending (partial Fisher-Yates). */
export function sharedIndices(n: number, k: number, seed: number): Uint32Array {
  const r = rng(seed);
  const pool = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(r() * (n - i));
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.slice(0, k).sort();
}

export function createRandomK(ratio: number): Compressor {
  const kOf = (n: number): number => Math.min(n, Math.max(1, Math.ceil(ratio * n)));
  const encode = (x: Float32Array, ctx: { sharedSeed: number }): Uint8Array => {
    const idx = sharedIndices(x.length, kOf(x.length), ctx.sharedSeed);
    const vals = new Float32Array(idx.length);
    for (let i = 0; i < idx.length; i++) vals[i] = x[idx[i]];
    return new Uint8Array(vals.buffer);
  };
  const decode = (payload: Uint8Array, n: number, ctx: { sharedSeed: number }): Float32Array => {
    const idx = sharedIndices(n, kOf(n), ctx.sharedSeed);
    const vals = new Float32Array(ownBytes(payload).buffer);
    const out = new Float32Array(n);
    for (let i = 0; i < idx.length; i++) out[idx[i]] = vals[i];
    return out;
  };

  const communicate = async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
    const { comm, group, index, chunks, ctx } = io;
    const n = group.length;
    // The same k for every owner (the largest chunk's), so the value vector splits evenly.
    const k = Math.max(...Array.from({ length: n }, (_, j) => kOf(chunks[j + 1] - chunks[j])));
    const idxOf = (j: number): Uint32Array => {
      const len = chunks[j + 1] - chunks[j];
      return sharedIndices(len, Math.min(k, len), ctx.sharedSeed + j);
    };
    const values = new Float32Array(n * k);
    const sent = new Float32Array(p.length);
    for (let j = 0; j < n; j++) {
      const idx = idxOf(j);
      for (let i = 0; i < idx.length; i++) {
        const at = chunks[j] + idx[i];
        values[j * k + i] = p[at];
        sent[at] = p[at];
      }
    }
    const mine = await comm.reduceScatter(values, { ranks: group });
    const chunk = new Float32Array(chunks[index + 1] - chunks[index]);
    const idx = idxOf(index);
    for (let i = 0; i < idx.length; i++) chunk[idx[i]] = mine[i];
    return { chunk, sent, wireBytes: (values.byteLength * (n - 1)) / n };
  };

  return {
    id: 'randomk',
    pattern: 'rounds',
    sparse: true,
    encode,
    decode,
    aggregate: (payloads) => {
      const acc = new Float32Array(ownBytes(payloads[0]).buffer);
      for (const pl of payloads.slice(1)) {
        const v = new Float32Array(ownBytes(pl).buffer);
        for (let i = 0; i < acc.length; i++) acc[i] += v[i];
      }
      return new Uint8Array(acc.buffer);
    },
    communicate,
  };
}

export const randomk = defineMethod({
  kind: 'gradient',
  id: 'randomk',
  order: 60,
  label: 'random-k',
  description:
    'k = ratio * n positions shared by all ranks (seeded), values summed by reduce-scatter',
  params: z.object({ ratio: ratioParam(0.01) }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'rounds',
  create: (p) => createRandomK(p.ratio),
});
