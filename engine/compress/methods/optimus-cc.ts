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
 *   overlap with compute anyway and go exact, which keeps the error down. The paper's reference
 *   implementation approximates that path by the cool-down (`--inter_grad_comp_epilogue_only`:
 *   stage s compresses its last S - s backward transfers); the dependency graph keeps the last
 *   transfer into every stage that waits for it and adds the warm-up transfers the first
 *   backwards wait for, and leaves cool-down transfers with slack exact.
 *
 * The paper compresses backward traffic only (its reference implementation refuses to compress
 * activations), so the forward activations, half of the inter-stage bytes, bound what it can
 * save to under 2x. `int8Transfers` is an extension beyond the paper, off by default: every
 * inter-stage transfer that would otherwise travel in fp32 (all forward activations, and the
 * activation gradients not sent as low-rank factors) travels as int8 codes with one fp32 scale
 * per row (token), about 3.8x smaller at dModel 64 with a relative error near 0.5 %; the
 * gradients' quantisation residual joins the lazy error when that is on.
 *
 * Low-rank ratio: the reference scripts use rank 12-16 on (seq x micro-batch) x hidden matrices
 * of 1024+ x 1920 (about 40x per transfer); rank 4 on this engine's 128 x 64 micro-batch
 * gradients keeps a larger share of the spectrum (10.7x per transfer).
 */
import { defineMethod } from '../method.js';
import { OptimusCcParamsSchema, type OptimusCcOptions } from '../pipeline-options.js';
import type { ErrorFeedback } from '../error-feedback.js';
import type { Comm } from '../../comm/comm-types.js';
import { gaussian, mixSeed } from '../../util/rng.js';
import { createBlockwiseInt } from '../blockwise-int.js';
import type { CodecContext, Compressor } from '../compressor.js';
import { mulMQ, mulMtP, mulPQt, orthonormalize } from './powersgd.js';

export const OPTIMUS_CC_ID = 'optimus-cc';
export { OptimusCcParamsSchema, type OptimusCcOptions };

/** Per-row int8 is deterministic and stateless: no seeds or per-tensor state needed. */
const CODEC_CONTEXT: CodecContext = {
  key: 'inter-stage',
  step: 0,
  rank: 0,
  sharedSeed: 0,
  localSeed: 0,
};

/**
 * Per-row int8 codes of a (rows x cols) activation or activation gradient: each row (one token's
 * vector) gets the scale max|x| / 127 and codes round(x / scale), the project's blockwise int8
 * codec with one block per row. Payload: rows fp32 scales, then rows x cols int8 codes.
 */
export class RowInt8 {
  private readonly codec: Compressor;

  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {
    this.codec = createBlockwiseInt('int8-rows', { bits: 8, block: cols, scale: 'per-rank' });
  }

  get payloadBytes(): number {
    return this.rows * 4 + this.rows * this.cols;
  }

  encode(x: Float32Array): Uint8Array {
    if (x.length !== this.rows * this.cols)
      throw new Error(`expected a ${this.rows} x ${this.cols} matrix, got ${x.length} values`);
    // No scratch memory in the context: every payload is a fresh buffer, so one may still be on
    // its way to the neighbour while the next is encoded.
    return this.codec.encode(x, CODEC_CONTEXT);
  }

  decode(payload: Uint8Array): Float32Array {
    if (payload.byteLength !== this.payloadBytes)
      throw new Error(
        `int8 payload has ${payload.byteLength} bytes, a ${this.rows} x ${this.cols} one has ${this.payloadBytes}`,
      );
    return this.codec.decode(payload, this.rows * this.cols, CODEC_CONTEXT);
  }
}

/** ||a - b|| / ||a||, 0 for a zero `a`. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i] - b[i];
    diff += e * e;
    norm += a[i] * a[i];
  }
  return norm > 0 ? Math.sqrt(diff / norm) : 0;
}

/**
 * Low-rank compression of a stream of (rows x cols) activation gradients, one per micro-batch,
 * with lazy error propagation; a micro-batch may instead go exact or as per-row int8 codes.
 * Invariant (with lazy error on): the sum of everything decoded on the other side plus `error`
 * equals the sum of every gradient put in. Rank 0: no low-rank transfers (exact or int8 only).
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
    if (rank > 0 && rank * (rows + cols) >= rows * cols)
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
    if (r === 0) throw new Error('rank-0 activation-gradient codec: no low-rank transfers');
    const m = this.compensated(grad);
    const payload = new Float32Array(this.payloadLength);
    const P = payload.subarray(0, n * r);
    const Q = payload.subarray(n * r);
    mulMQ(m, n, c, this.q, r, P);
    orthonormalize(P, n, r);
    mulMtP(m, n, c, P, r, Q);
    this.q.set(Q); // warm start for the next micro-batch
    return { payload, relError: this.settle(m, LowRankBackprop.decode(payload, n, c, r)) };
  }

  /** Sends this micro-batch as per-row int8 codes; their residual becomes the pending error. */
  quantize(grad: Float32Array, codec: RowInt8): { payload: Uint8Array; relError: number } {
    const m = this.compensated(grad);
    const payload = codec.encode(m);
    return { payload, relError: this.settle(m, codec.decode(payload)) };
  }

  /** What `approx` misses of `m` becomes the pending error (with lazy error on); its relative size. */
  private settle(m: Float32Array, approx: Float32Array): number {
    if (this.lazyError) for (let i = 0; i < m.length; i++) this.error[i] = m[i] - approx[i];
    return relativeError(m, approx);
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

export const optimusCc = defineMethod({
  kind: 'pipeline',
  id: OPTIMUS_CC_ID,
  order: 150,
  label: 'Optimus-CC',
  description:
    'pipeline traffic compression: low-rank activation gradients with lazy error propagation, fused compressed embedding sync, selective (critical-path) compression; optionally int8 activations (an extension)',
  params: OptimusCcParamsSchema,
  defaultErrorFeedback: 'none',
  create: (options) => options,
});
