/**
 * Optimus-CC (Song et al., ASPLOS 2023): compressing the inter-stage traffic of pipeline x data
 * parallel training. Three techniques, each switchable on its own:
 *
 * - Compressed backpropagation (`compressBackprop`): the activation gradient a stage sends back
 *   to the previous stage, a (micro-batch rows x dModel) matrix, travels as rank-r PowerSGD
 *   factors P, Q (one power iteration, Q warm-started from the previous micro-batch). With lazy
 *   error propagation (`lazyError`) the part the factors miss is added to the next micro-batch's
 *   gradient before it is compressed; weight gradients are sums over micro-batches, so the error
 *   is spent where it matters instead of being lost.
 * - Fused embedding synchronisation (`fuseEmbedding`): with tied embeddings the first and the
 *   last stage each hold a copy of the token embedding. Instead of summing their gradients
 *   between the two stages and then all-reducing each copy over its data-parallel group, one
 *   PowerSGD all-reduce (with error feedback) over both stages' data-parallel ranks does both.
 * - Selective stage compression (`selective`): only activation gradients whose transfer lies on
 *   the critical path of the 1F1B schedule are compressed (see pipeline-schedule.ts); the others
 *   overlap with compute anyway and go exact, which keeps the error down.
 */
import { z } from 'zod';
import type { ErrorFeedback } from '../parallel/error-feedback.js';
import type { Comm } from '../parallel/types.js';
import { gaussian, mixSeed } from '../util/rng.js';
import type { Compressor } from './compressor.js';
import { mulMQ, mulMtP, mulPQt, orthonormalize } from './powersgd.js';

export const OPTIMUS_CC_ID = 'optimus-cc';

const lowRank = z.number().int().min(1).max(256);

export const OptimusCcParamsSchema = z
  .object({
    /** Rank of the activation-gradient factors. */
    rank: lowRank.default(4),
    compressBackprop: z.boolean().default(true),
    lazyError: z.boolean().default(true),
    fuseEmbedding: z.boolean().default(true),
    /** Rank of the tied embedding gradient's factors in the fused synchronisation. */
    embeddingRank: lowRank.default(4),
    selective: z.boolean().default(true),
  })
  .strict();
export type OptimusCcOptions = z.output<typeof OptimusCcParamsSchema>;

export const OPTIMUS_CC_INFO = {
  id: OPTIMUS_CC_ID,
  label: 'Optimus-CC',
  description:
    'pipeline traffic compression: low-rank activation gradients with lazy error propagation, fused compressed embedding sync, selective (critical-path) compression',
  params: OptimusCcParamsSchema,
};

/** Validates Optimus-CC params, naming the field on error. */
export function parseOptimusCcParams(params: unknown): OptimusCcOptions {
  const r = OptimusCcParamsSchema.safeParse(params ?? {});
  if (!r.success)
    throw new Error(
      r.error.issues
        .map(
          (i) => `methods[${OPTIMUS_CC_ID}].params.${i.path.join('.') || '(root)'}: ${i.message}`,
        )
        .join('\n'),
    );
  return r.data;
}

/**
 * Low-rank compression of a stream of (rows x cols) activation gradients, one per micro-batch,
 * with lazy error propagation. Invariant (with lazy error on): the sum of everything decoded on
 * the other side plus `error` equals the sum of every gradient put in.
 */
export class LowRankBackprop {
  /** What the factors have not carried yet (added to the next gradient). */
  readonly error: Float32Array;
  private readonly q: Float32Array;
  private readonly m: Float32Array;

  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly rank: number,
    readonly lazyError = true,
    seed = 1,
  ) {
    if (rank * (rows + cols) >= rows * cols)
      throw new Error(
        `rank ${rank} factors of a ${rows} x ${cols} gradient would not be smaller than the gradient; use a rank below ${Math.floor((rows * cols) / (rows + cols))}`,
      );
    this.error = new Float32Array(rows * cols);
    this.m = new Float32Array(rows * cols);
    const g = gaussian(mixSeed(seed, rows * 131 + cols));
    this.q = Float32Array.from({ length: cols * rank }, () => g());
  }

  /** Payload length in floats: P (rows x r) then Q (cols x r). */
  get payloadLength(): number {
    return (this.rows + this.cols) * this.rank;
  }

  /** The gradient plus the pending error: what this micro-batch should carry. */
  private compensated(grad: Float32Array): Float32Array {
    if (grad.length !== this.m.length)
      throw new Error(`expected a ${this.rows} x ${this.cols} gradient, got ${grad.length} values`);
    const m = this.m;
    if (this.lazyError) for (let i = 0; i < m.length; i++) m[i] = grad[i] + this.error[i];
    else m.set(grad);
    return m;
  }

  /** Compresses one micro-batch's gradient to [P | Q]; the relative error of this transfer too. */
  encode(grad: Float32Array): { payload: Float32Array; relError: number } {
    const { rows: n, cols: c, rank: r } = this;
    const m = this.compensated(grad);
    const payload = new Float32Array(this.payloadLength);
    const P = payload.subarray(0, n * r);
    const Q = payload.subarray(n * r);
    mulMQ(m, n, c, this.q, r, P);
    orthonormalize(P, n, r);
    mulMtP(m, n, c, P, r, Q);
    this.q.set(Q); // warm start for the next micro-batch
    const approx = LowRankBackprop.decode(payload, n, c, r);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < m.length; i++) {
      const e = m[i] - approx[i];
      diff += e * e;
      norm += m[i] * m[i];
      if (this.lazyError) this.error[i] = e;
    }
    return { payload, relError: norm > 0 ? Math.sqrt(diff / norm) : 0 };
  }

  /** Sends this micro-batch exact (a transfer off the critical path): the pending error goes with it. */
  exact(grad: Float32Array): Float32Array {
    const out = this.compensated(grad).slice();
    this.error.fill(0);
    return out;
  }

  static decode(
    payload: Float32Array,
    rows: number,
    cols: number,
    rank: number,
    out = new Float32Array(rows * cols),
  ): Float32Array {
    if (payload.length !== (rows + cols) * rank)
      throw new Error(
        `low-rank payload has ${payload.length} values, a rank-${rank} ${rows} x ${cols} one has ${(rows + cols) * rank}`,
      );
    mulPQt(payload.subarray(0, rows * rank), rows, payload.subarray(rows * rank), cols, rank, out);
    return out;
  }
}

/**
 * The fused, compressed synchronisation of the tied embedding gradient `grad` (vocab x dModel)
 * over `group` (both end stages' data-parallel ranks): PowerSGD rounds with error feedback.
 * Returns the sum over the group (every member gets the same) and the bytes this rank sent.
 */
export async function fusedEmbeddingSync(
  grad: Float32Array,
  shape: [number, number],
  comm: Comm,
  group: number[],
  powerSgd: Compressor,
  ef: ErrorFeedback,
  step: number,
): Promise<{ sum: Float32Array; wireBytes: number }> {
  const index = group.indexOf(comm.rank);
  if (index < 0) throw new Error(`rank ${comm.rank} is not in the embedding group [${group}]`);
  const key = 'tied-embedding';
  const p = ef.compensate(key, grad);
  // The whole vector is this rank's "chunk", so every member gets the full sum back.
  const chunks = Array.from({ length: group.length + 1 }, (_, i) => (i <= index ? 0 : grad.length));
  const res = await powerSgd.communicate!(p, {
    comm,
    group,
    index,
    chunks,
    segments: [{ offset: 0, shape }],
    ctx: { key, step, rank: comm.rank, sharedSeed: 0, localSeed: comm.rank },
  });
  ef.update(key, grad, p, res.sent);
  return { sum: res.chunk, wireBytes: res.wireBytes };
}
