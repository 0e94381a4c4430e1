/**
 * qgZ (ZeRO++ quantized gradients): a hierarchical all-to-all reduction of blockwise int8/int4
 * codes. Step 1, inside each node: every rank quantises, for each node peer, the chunks that peer
 * will own across all nodes, and sends them over the fast links; each rank dequantises and sums
 * what it received: the node's sum of its positions. Step 2, across nodes: every rank quantises
 * that node sum per owner and exchanges it with the ranks of the same position in the other
 * nodes; owners dequantise and sum. Every element crosses the slow links once, quantised, and
 * only 1/ranks-per-node of it from each rank (a flat all-to-all would send every remote owner's
 * chunk from every rank). Owners end with their chunk of the sum (chunks[index]..), as the
 * reduce-scatter would leave it.
 *
 * Groups without a node structure (one node, or uneven nodes) run step 2 alone: a flat all-to-all.
 */
import { createBlockwiseInt } from '../blockwise-int.js';
import type { Compressor, RoundsIo, RoundsResult } from '../compressor.js';
import { roundsOnlyCodec } from '../compressor.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { blockParam } from '../param-fields.js';
import { nodeGrid, placeIn } from '../node-grid.js';

export interface QgzOptions {
  bits: 8 | 4;
  block: number;
  /** Ranks per node of the world (ranks r and s share a node when r / perNode == s / perNode). */
  ranksPerNode: number;
}

export function createQgz(o: QgzOptions): Compressor {
  const codec = createBlockwiseInt('qgz', { bits: o.bits, block: o.block, scale: 'per-rank' });

  /** Concatenation of `x`'s chunks `owners` (group indices), and their lengths. */
  const gatherChunks = (x: Float32Array, chunks: number[], owners: number[]): Float32Array => {
    const out = new Float32Array(owners.reduce((a, j) => a + chunks[j + 1] - chunks[j], 0));
    let at = 0;
    for (const j of owners) {
      out.set(x.subarray(chunks[j], chunks[j + 1]), at);
      at += chunks[j + 1] - chunks[j];
    }
    return out;
  };

  /** One all-to-all of quantised parts among `peers` (group indices); the decoded sum of what arrives. */
  const exchange = async (
    io: RoundsIo,
    peers: number[],
    parts: Float32Array[],
    len: number,
  ): Promise<{ sum: Float32Array; sent: Float32Array[]; bytes: number; codeMs: number }> => {
    const me = peers.indexOf(io.index);
    const t0 = performance.now();
    const payloads = parts.map((x) => codec.encode(x, io.ctx));
    const t1 = performance.now();
    const received = await io.comm.allToAllV(
      payloads,
      peers.map((i) => io.group[i]),
    );
    const t2 = performance.now();
    const sum = new Float32Array(len);
    for (const r of received) {
      const d = codec.decode(r, len, io.ctx);
      for (let i = 0; i < len; i++) sum[i] += d[i];
    }
    io.comm.recycle(received);
    const sent = payloads.map((p, j) => codec.decode(p, parts[j].length, io.ctx));
    const bytes = payloads.reduce((a, p, j) => a + (j === me ? 0 : p.byteLength), 0);
    return { sum, sent, bytes, codeMs: t1 - t0 + performance.now() - t2 };
  };

  const communicate = async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
    const { chunks, index } = io;
    const grid = nodeGrid(io.group, o.ranksPerNode);
    const mineLen = chunks[index + 1] - chunks[index];
    const sentFull = new Float32Array(p.length);
    if (!grid) {
      const all = io.group.map((_, j) => j);
      const r = await exchange(
        io,
        all,
        all.map((j) => p.subarray(chunks[j], chunks[j + 1])),
        mineLen,
      );
      r.sent.forEach((s, j) => sentFull.set(s, chunks[j]));
      return { chunk: r.sum, sent: sentFull, wireBytes: r.bytes, encodeMs: r.codeMs, decodeMs: 0 };
    }
    // column(q): the chunks owned by the ranks at position q of every node, in node order.
    const { node, pos, column } = placeIn(grid, index);
    // Step 1: inside the node, position q gets every node's q-th owners' chunks.
    const mineCols = column(pos);
    const colLen = mineCols.reduce((a, j) => a + chunks[j + 1] - chunks[j], 0);
    const s1 = await exchange(
      io,
      node,
      node.map((_, q) => gatherChunks(p, chunks, column(q))),
      colLen,
    );
    node.forEach((_, q) => {
      let at = 0;
      for (const j of column(q)) {
        sentFull.set(s1.sent[q].subarray(at, at + chunks[j + 1] - chunks[j]), chunks[j]);
        at += chunks[j + 1] - chunks[j];
      }
    });
    // Step 2: across nodes, among this position's ranks; the i-th gets its own chunk.
    let at = 0;
    const parts = mineCols.map((j) => {
      const part = s1.sum.subarray(at, at + chunks[j + 1] - chunks[j]);
      at += part.length;
      return part;
    });
    const s2 = await exchange(io, mineCols, parts, mineLen);
    return {
      chunk: s2.sum,
      sent: sentFull,
      wireBytes: s1.bytes + s2.bytes,
      encodeMs: s1.codeMs + s2.codeMs,
      decodeMs: 0,
    };
  };

  return {
    id: 'qgz',
    pattern: 'rounds',
    sparse: false,
    ...roundsOnlyCodec('qgz'),
    communicate,
  };
}

export const qgz = defineMethod({
  kind: 'gradient',
  id: 'qgz',
  order: 120,
  label: 'qgZ (hierarchical int8/int4)',
  description:
    'ZeRO++ qgZ: blockwise-quantised all-to-all inside each node, then across nodes between the ranks at the same position; each element crosses nodes once, quantised',
  params: z
    .object({ bits: z.union([z.literal(8), z.literal(4)]).default(8), block: blockParam })
    .strict(),
  defaultErrorFeedback: 'none',
  pattern: () => 'rounds',
  travelsAs: () => 'hierarchical-all-to-all',
  create: (p, env) =>
    createQgz({ bits: p.bits, block: p.block, ranksPerNode: env.ranksPerNode ?? env.world }),
});
