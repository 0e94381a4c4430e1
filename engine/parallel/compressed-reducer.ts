/**
 * The gradient reducer for every compression method. One step of one unit, in this fixed order
 * (GRACE's compensate -> compress -> update -> communicate, adapted to sharded reduction):
 *   1. Error feedback: p = compensate(g).
 *   2. Compress and reduce over the compression group, by the method's pattern:
 *      'reduce-scatter' (summable, the ring adds payloads), 'all-to-all' (owners decode and sum),
 *      or the method's own 'rounds'. Result: this rank's chunk of the sum, and D(C(p)) as sent.
 *   3. Error feedback: update(g, p, sent).
 *   4. Finish the FSDP semantics: HYBRID_SHARD all-reduces the chunk across nodes (fp32);
 *      NO_SHARD all-gathers the chunks back into the whole gradient.
 *   5. Average over the world.
 *   6. Every `relErrorEvery` steps, also reduce the uncompressed p and record the relative error
 *      of the compressed aggregate (that probe's traffic is not counted as the method's).
 */
import { chunkOffsets } from '../comm/collectives.js';
import { ScratchPool, type Compressor } from '../compress/compressor.js';
import { mixSeed } from '../util/rng.js';
import type { ErrorFeedback } from '../compress/error-feedback.js';
import {
  baselineBytes,
  type GradientReducer,
  type ReduceContext,
  type ReduceResult,
} from './grad-reducer.js';

export interface CompressedReducerOptions {
  relErrorEvery: number;
  seed: number;
}

export class CompressedReducer implements GradientReducer {
  /** Payload memory per tensor, reused every step (a payload is done with by the unit's end). */
  private readonly payloads = new ScratchPool();

  constructor(
    readonly id: string,
    private readonly compressor: Compressor,
    private readonly ef: ErrorFeedback,
    private readonly opts: CompressedReducerOptions,
  ) {}

  async reduce(
    grad: Float32Array,
    { comm, plan, unit, step }: ReduceContext,
  ): Promise<ReduceResult> {
    const group = plan.shardGroup.length > 1 ? plan.shardGroup : plan.replicaGroup;
    const index = group.indexOf(plan.rank);
    const chunks = chunkOffsets(unit.padded, group.length, 1);
    const key = `u${unit.index}`;
    const ctx = (j: number) => ({
      key: `${key}/${j}`,
      step,
      rank: plan.rank,
      sharedSeed: mixSeed(this.opts.seed, step, unit.index, j),
      localSeed: mixSeed(this.opts.seed, step, unit.index, j, plan.rank + 1),
      scratch: this.payloads.forKey(`${key}/${j}`),
    });
    const c = this.compressor;

    // Step 1.
    const p = this.ef.compensate(key, grad);
    // Step 2.
    let chunk: Float32Array;
    let sent: Float32Array;
    let wireBytes = 0;
    let encodeMs = 0;
    let decodeMs = 0;
    let stats: Record<string, number> | undefined;
    const t0 = performance.now();
    if (c.pattern === 'rounds') {
      const segments = unit.segments.map((s) => ({
        offset: s.offset,
        shape: s.spec.shape,
        cls: s.spec.cls,
      }));
      const r = await c.communicate!(p, {
        comm,
        group,
        index,
        chunks,
        segments,
        ctx: { ...ctx(-1), key },
      });
      ({ chunk, sent, wireBytes, stats } = r);
      // Rounds interleave coding and communication; methods that time their coding report it.
      encodeMs = r.encodeMs ?? performance.now() - t0;
      decodeMs = r.decodeMs ?? 0;
    } else if (c.pattern === 'reduce-scatter') {
      const enc = c.encode(p, ctx(-1));
      const e1 = performance.now();
      const wire = new Uint16Array(enc.buffer, enc.byteOffset, enc.byteLength / 2);
      const mine = await comm.reduceScatter(wire, { ranks: group, dtype: c.wireDtype });
      const d0 = performance.now();
      chunk = c.decode(
        new Uint8Array(mine.buffer, mine.byteOffset, mine.byteLength),
        mine.length,
        ctx(-1),
      );
      sent = this.ef.enabled ? c.decode(enc, p.length, ctx(-1)) : p;
      encodeMs = e1 - t0;
      decodeMs = performance.now() - d0;
      wireBytes = (enc.byteLength * (group.length - 1)) / group.length;
    } else {
      const parts = group.map((_, j) => c.encode(p.subarray(chunks[j], chunks[j + 1]), ctx(j)));
      const e1 = performance.now();
      const received = await comm.allToAllV(parts, group);
      const d0 = performance.now();
      const len = chunks[index + 1] - chunks[index];
      chunk = new Float32Array(len);
      for (const part of received) {
        const d = c.decode(part, len, ctx(index));
        for (let i = 0; i < len; i++) chunk[i] += d[i];
      }
      comm.recycle(received);
      sent = p;
      if (this.ef.enabled) {
        sent = new Float32Array(p.length);
        parts.forEach((part, j) =>
          sent.set(c.decode(part, chunks[j + 1] - chunks[j], ctx(j)), chunks[j]),
        );
      }
      encodeMs = e1 - t0;
      decodeMs = performance.now() - d0;
      wireBytes = parts.reduce((a, part, j) => a + (j === index ? 0 : part.byteLength), 0);
    }
    // Step 3.
    this.ef.update(key, grad, p, sent);
    // Step 6 (before 4 and 5 change the chunk in place).
    const errorProbe =
      this.opts.relErrorEvery > 0 && step % this.opts.relErrorEvery === 0
        ? await this.probe(p, chunk, group, comm)
        : undefined;
    // Step 4.
    let shard = chunk;
    if (group === plan.shardGroup && plan.replicaGroup.length > 1) {
      shard = await comm.allReduce(chunk, { ranks: plan.replicaGroup });
      wireBytes +=
        (chunk.byteLength * 2 * (plan.replicaGroup.length - 1)) / plan.replicaGroup.length;
    } else if (group !== plan.shardGroup) {
      shard = await comm.allGather(chunk, unit.padded, group);
      wireBytes += (unit.padded * 4 * (group.length - 1)) / group.length;
    }
    // Step 5.
    const scale = 1 / plan.world;
    for (let i = 0; i < shard.length; i++) shard[i] *= scale;
    return {
      shard,
      rawBytes: baselineBytes(unit, plan),
      wireBytes,
      encodeMs,
      decodeMs,
      errorProbe,
      stats,
    };
  }

  /** Squared error of the compressed sum against the exact sum, over this rank's chunk. */
  private async probe(
    p: Float32Array,
    chunk: Float32Array,
    group: number[],
    comm: ReduceContext['comm'],
  ): Promise<{ diffSq: number; exactSq: number }> {
    const exact = await comm.reduceScatter(p, { ranks: group });
    let diffSq = 0;
    let exactSq = 0;
    for (let i = 0; i < exact.length; i++) {
      diffSq += (chunk[i] - exact[i]) ** 2;
      exactSq += exact[i] ** 2;
    }
    return { diffSq, exactSq };
  }
}
