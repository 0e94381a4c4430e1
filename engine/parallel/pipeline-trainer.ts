/**
 * Pipeline x data parallel training of the GPT (rank layout and stage partition in
 * run/pipeline-layout.ts), one step:
 *   1. The stage runs its 1F1B op list (pipeline-schedule.ts) over the step's micro-batches. A
 *      forward receives the previous stage's activation (the first stage embeds tokens), runs the
 *      stage's units and sends the result on (the last stage only keeps its input). A backward
 *      receives the next stage's activation gradient (the last stage starts from the loss, scaled
 *      by 1 / micro-batches), recomputes the stage's forward inside tf.grads (activation
 *      checkpointing, as the FSDP trainer does per unit), accumulates the parameter gradients and
 *      sends the input gradient back. Sends are not awaited; receives are. Each transfer's format
 *      follows from the options, the boundary and the micro-batch alone, so sender and receiver
 *      agree without a header: low-rank factors (compressed backprop on that transfer), per-row
 *      int8 (int8Transfers, anything not low-rank) or fp32.
 *   2. Tied embeddings: the first stage owns wte, the last stage a copy (initialised the same);
 *      their gradients are summed, either exchanged between the two stages (exact) or inside one
 *      compressed all-reduce over both stages' data-parallel ranks (Optimus-CC fused sync).
 *   3. Data parallelism per stage, NO_SHARD semantics: the stage's flat gradient is all-reduced
 *      over its data-parallel group and averaged (the tied embedding is excluded when the fused
 *      sync already reduced it).
 *   4. The global gradient norm and the step's loss in one all-reduce over the world; clip; AdamW
 *      on the stage's parameters.
 * Every rank issues the same sequence of collectives (each on its own subgroup); the pipeline's
 * point-to-point messages use their own tags, so stages may exchange different numbers of them.
 * Bubble time: the time a stage waits for its neighbours' messages.
 */
import * as tf from '@tensorflow/tfjs';
import type { CommClient } from '../comm/comm-client.js';
import {
  LowRankBackprop,
  RowInt8,
  fusedEmbeddingSync,
  relativeError,
  type OptimusCcOptions,
} from '../compress/methods/optimus-cc.js';
import { createPowerSgd } from '../compress/methods/powersgd.js';
import type { Compressor } from '../compress/compressor.js';
import { initUnit, unitNumel, type Gpt, type ParamSpec, type UnitSpec } from '../model/gpt.js';
import { adamwStep, stepUpdate } from './adamw.js';
import { ErrorFeedback } from '../compress/error-feedback.js';
import { FlatUnit } from './flat-unit.js';
import type { Batch, StepStats, TrainConfig } from './fsdp-trainer.js';
import { ringAllReduceBytes } from './grad-reducer.js';
import type { PipelineLayout } from '../run/pipeline-layout.js';
import {
  analyzeSchedule,
  criticalGradientSet,
  oneFOneB,
  transferKey,
  type ScheduleAnalysis,
} from './pipeline-schedule.js';
import type { ShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';
import { StepClock } from './step-clock.js';

export type PipeComm = Comm & Pick<CommClient, 'send' | 'recv'>;

/** Point-to-point channels between neighbouring stages. */
export const PIPE_CHANNELS = { activations: 0, gradients: 1, embedding: 2 } as const;
const { activations: ACTIVATIONS, gradients: GRADIENTS, embedding: EMBEDDING } = PIPE_CHANNELS;

export interface PipelineOptions {
  microBatches: number;
  /** Optimus-CC techniques; undefined: every transfer exact. */
  optimus?: OptimusCcOptions;
}

/** The FSDP step figures (health checks are the FSDP trainer's), plus the pipeline's own. */
export type PipelineStepStats = Omit<StepStats, 'health' | 'skipped'> & {
  bubbleMs: number;
  /** Bytes this rank sent to its neighbouring stages (activations and their gradients). */
  interStageBytes: number;
  /** The same transfers in fp32. */
  interStageRawBytes: number;
};

/** Nominal 1F1B costs for the critical path: a block's forward is 1, embedding and head 0.5, backward twice forward. */
export function nominalCosts(
  stageUnits: number[][],
  unitCount: number,
): Parameters<typeof analyzeSchedule>[2] {
  const weight = (k: number): number => (k === 0 || k === unitCount - 1 ? 0.5 : 1);
  const forwardMs = stageUnits.map((us) => us.reduce((a, k) => a + weight(k), 0));
  return {
    forwardMs,
    backwardMs: forwardMs.map((f) => 2 * f),
    activationMs: 0.25,
    gradientMs: 0.25,
  };
}

interface StageParam {
  unit: number;
  /** Index of the parameter within its GPT unit. */
  param: number;
}

export class PipelineTrainer {
  /** This stage's parameters as one flat vector (replicated over the data-parallel group). */
  readonly flat: FlatUnit;
  readonly schedule: ScheduleAnalysis;
  private readonly origin: StageParam[];
  /** Segment index of the tied embedding on this stage (wte, or the last stage's copy). */
  private readonly tiedSegment: number | undefined;
  private readonly first: boolean;
  private readonly last: boolean;
  private readonly backprop: LowRankBackprop | undefined;
  /** Per-row int8 codec of one micro-batch's activations (int8Transfers). */
  private readonly int8: RowInt8 | undefined;
  private readonly compressed: Set<string>;
  private readonly embeddingGroup: number[];
  private readonly powerSgd: Compressor | undefined;
  private readonly embeddingEf = new ErrorFeedback({ mode: 'ef' });
  private exposedMs = 0;
  private bubbleMs = 0;

  constructor(
    readonly model: Gpt,
    readonly comm: PipeComm,
    readonly layout: PipelineLayout,
    readonly train: TrainConfig,
    readonly opts: PipelineOptions,
    batchRows: number,
  ) {
    const S = layout.stages;
    if (S < 2) throw new Error('the pipeline trainer needs at least 2 stages');
    if (batchRows % opts.microBatches !== 0)
      throw new Error(
        `batchPerRank (${batchRows}) must be divisible by parallel.microBatches (${opts.microBatches})`,
      );
    const units = model.units;
    this.first = layout.stage === 0;
    this.last = layout.stage === S - 1;
    const tied = model.config.tied;
    const mine = layout.stageUnits[layout.stage];
    // The tied embedding goes last in the flat vector, so the data-parallel all-reduce can leave
    // it out as one contiguous range when the fused sync takes care of it.
    const origin: StageParam[] = [];
    const specs: ParamSpec[] = [];
    for (const k of mine)
      units[k].params.forEach((p, i) => {
        if (tied && k === 0 && i === 0) return;
        origin.push({ unit: k, param: i });
        specs.push({ ...p, name: `${units[k].name}.${p.name}` });
      });
    if (tied && (this.first || this.last)) {
      origin.push({ unit: 0, param: 0 });
      specs.push({ ...units[0].params[0], name: this.first ? 'wte' : 'wte.copy' });
      this.tiedSegment = specs.length - 1;
    }
    this.origin = origin;
    const spec: UnitSpec = { name: `stage${layout.stage}`, kind: 'block', params: specs };
    const plan: ShardPlan = {
      strategy: 'NO_SHARD',
      rank: layout.rank,
      world: layout.dp,
      shardGroup: [layout.rank],
      replicaGroup: layout.dpGroup,
      shardIndex: 0,
      regatherInBackward: false,
    };
    this.flat = new FlatUnit(spec, layout.stage, plan, train.seed);
    // Same initial values as the unpartitioned model: each parameter from its own unit's stream.
    const inits = new Map<number, Float32Array>();
    this.flat.segments.forEach((seg, i) => {
      const { unit, param } = origin[i];
      let full = inits.get(unit);
      if (!full) {
        full = initUnit(units[unit], unit, train.seed, new Float32Array(unitNumel(units[unit])));
        inits.set(unit, full);
      }
      let off = 0;
      for (let j = 0; j < param; j++) off += units[unit].params[j].shape.reduce((a, b) => a * b, 1);
      this.flat.shard.set(full.subarray(off, off + seg.size), seg.offset);
    });

    this.schedule = analyzeSchedule(
      S,
      opts.microBatches,
      nominalCosts(layout.stageUnits, units.length),
    );
    const oc = opts.optimus;
    this.compressed = oc?.compressBackprop
      ? oc.selective
        ? criticalGradientSet(this.schedule)
        : new Set(
            Array.from({ length: S - 1 }, (_, b) =>
              Array.from({ length: opts.microBatches }, (_, mb) =>
                transferKey({ boundary: b, mb }),
              ),
            ).flat(),
          )
      : new Set();
    const rows = (batchRows / opts.microBatches) * model.config.seqLen;
    if (oc?.int8Transfers) this.int8 = new RowInt8(rows, model.config.dModel);
    if ((oc?.compressBackprop || oc?.int8Transfers) && !this.first)
      this.backprop = new LowRankBackprop(
        rows,
        model.config.dModel,
        oc.compressBackprop ? oc.rank : 0,
        oc.lazyError,
        train.seed + layout.rank,
      );
    this.embeddingGroup = [...layout.dpGroup.map((r) => r - layout.stage)]
      .flatMap((base) => [base, base + S - 1])
      .sort((a, b) => a - b);
    if (tied && oc?.fuseEmbedding) {
      const [V, C] = units[0].params[0].shape;
      if (oc.embeddingRank * (V + C) >= V * C)
        throw new Error(
          `methods[optimus-cc].params.embeddingRank: rank ${oc.embeddingRank} factors of the ${V} x ${C} embedding would not be smaller than it`,
        );
      this.powerSgd = createPowerSgd(oc.embeddingRank);
    }
  }

  /** Whether the activation gradient of micro-batch `mb` into stage `boundary` travels compressed. */
  compresses(boundary: number, mb: number): boolean {
    return this.compressed.has(transferKey({ boundary, mb }));
  }

  private async wait<T>(p: Promise<T>, bubble = false): Promise<T> {
    const t0 = performance.now();
    try {
      return await p;
    } finally {
      const dt = performance.now() - t0;
      this.exposedMs += dt;
      if (bubble) this.bubbleMs += dt;
    }
  }

  /** The stage's units on `x` (token ids on the first stage); the last stage returns the loss. */
  private forward(
    ps: tf.Tensor[],
    x: tf.Tensor,
    targets: tf.Tensor | undefined,
    scale: number,
  ): tf.Tensor {
    const m = this.model;
    const units = this.layout.stageUnits[this.layout.stage];
    const byUnit = (k: number): tf.Tensor[] => {
      const out: tf.Tensor[] = [];
      this.origin.forEach((o, i) => {
        if (o.unit === k && i !== this.tiedSegment) out[o.param] = ps[i];
      });
      return out;
    };
    const wte = this.tiedSegment !== undefined ? ps[this.tiedSegment] : undefined;
    let h = x;
    for (const k of units) {
      const kind = m.units[k].kind;
      if (kind === 'embedding') {
        const p = byUnit(0);
        if (wte) p[0] = wte;
        h = m.embed(p, h);
      } else if (kind === 'block') h = m.block(byUnit(k), h);
      else h = tf.mul(m.head(byUnit(k), h, targets!, wte), scale);
    }
    return h;
  }

  async step(step: number, batch: Batch): Promise<PipelineStepStats> {
    const clock = new StepClock(this.comm);
    this.exposedMs = 0;
    this.bubbleMs = 0;
    const { stage, stages: S, prev, next } = this.layout;
    const M = this.opts.microBatches;
    const T = this.model.config.seqLen;
    const C = this.model.config.dModel;
    const rowsPerMb = batch.batch / M;
    const actLen = rowsPerMb * T * C;
    const flat = this.flat;
    const grad = flat.grad.fill(0);
    const ps = flat.views(flat.shard).map((v, i) => tf.tensor(v, flat.segments[i].spec.shape));
    const inputs: (tf.Tensor | undefined)[] = new Array(M);
    const sends: Promise<void>[] = [];
    let interStageBytes = 0;
    let interStageRawBytes = 0;
    let encodeMs = 0;
    let decodeMs = 0;
    let lossSum = 0;
    const relErrors: number[] = [];
    const actErrors: number[] = [];
    const rows = (a: Int32Array, mb: number): Int32Array =>
      a.subarray(mb * rowsPerMb * T, (mb + 1) * rowsPerMb * T);
    const send = (data: Float32Array | Uint8Array, peer: number, channel: number): void => {
      const p = this.comm.send(data, peer, channel);
      p.catch(() => undefined); // awaited below; do not leave a rejection unobserved meanwhile
      sends.push(p);
      interStageBytes += data.byteLength;
    };

    // Step 1: the 1F1B op list.
    for (const op of oneFOneB(S, M, stage)) {
      const mb = op.mb;
      if (op.kind === 'F') {
        let x: tf.Tensor;
        if (this.first) x = tf.tensor2d(rows(batch.x, mb), [rowsPerMb, T], 'int32');
        else {
          const bytes = await this.wait(this.comm.recv(prev!, ACTIVATIONS), true);
          const t1 = performance.now();
          const a = this.int8 ? this.int8.decode(bytes) : floats(bytes, actLen);
          if (this.int8) decodeMs += performance.now() - t1;
          x = tf.tensor3d(a, [rowsPerMb, T, C]);
        }
        inputs[mb] = x;
        if (!this.last) {
          const out = tf.tidy(() => this.forward(ps, x, undefined, 1));
          const data = out.dataSync() as Float32Array;
          out.dispose();
          interStageRawBytes += data.byteLength;
          if (this.int8) {
            const t1 = performance.now();
            const payload = this.int8.encode(data);
            encodeMs += performance.now() - t1;
            actErrors.push(relativeError(data, this.int8.decode(payload)));
            send(payload, next!, ACTIVATIONS);
          } else send(data, next!, ACTIVATIONS);
        }
        continue;
      }
      const x = inputs[mb]!;
      let dy: tf.Tensor | undefined;
      if (!this.last) {
        const bytes = await this.wait(this.comm.recv(next!, GRADIENTS), true);
        const t1 = performance.now();
        const lowRank = this.compresses(stage, mb);
        const g = lowRank
          ? LowRankBackprop.decode(floats(bytes), rowsPerMb * T, C, this.opts.optimus!.rank)
          : this.int8
            ? this.int8.decode(bytes)
            : floats(bytes, actLen);
        dy = tf.tensor3d(g, [rowsPerMb, T, C]);
        if (lowRank || this.int8) decodeMs += performance.now() - t1;
      }
      const targets = this.last
        ? tf.tensor2d(rows(batch.y, mb), [rowsPerMb, T], 'int32')
        : undefined;
      const withInput = !this.first;
      const out = tf.tidy(() => {
        const f = (...args: tf.Tensor[]): tf.Tensor =>
          this.forward(withInput ? args.slice(1) : args, withInput ? args[0] : x, targets, 1 / M);
        const args = withInput ? [x, ...ps] : ps;
        if (this.last) {
          const { value, grads } = tf.valueAndGrads(f)(args);
          return [value, ...grads];
        }
        return tf.grads(f)(args, dy);
      });
      if (this.last) {
        lossSum += (out[0].dataSync() as Float32Array)[0]; // each micro-batch loss is already / M
        out.shift()!.dispose();
      }
      const paramGrads = withInput ? out.slice(1) : out;
      flat.segments.forEach((s, i) =>
        addInto(grad, paramGrads[i].dataSync() as Float32Array, s.offset),
      );
      if (withInput) {
        const dx = out[0].dataSync() as Float32Array;
        interStageRawBytes += dx.byteLength;
        const lowRank = this.compresses(stage - 1, mb);
        if (lowRank || this.int8) {
          const t1 = performance.now();
          const { payload, relError } = lowRank
            ? this.backprop!.encode(dx)
            : this.backprop!.quantize(dx, this.int8!);
          encodeMs += performance.now() - t1;
          relErrors.push(relError);
          send(payload, prev!, GRADIENTS);
        } else send(this.backprop ? this.backprop.exact(dx) : dx, prev!, GRADIENTS);
      }
      tf.dispose(out);
      dy?.dispose();
      targets?.dispose();
      x.dispose();
      inputs[mb] = undefined;
    }
    tf.dispose(ps);
    await this.wait(Promise.all(sends), true);

    // Steps 2 and 3: tied embedding, then data-parallel averaging of the stage's gradient.
    let wireBytes = interStageBytes;
    let rawBytes = interStageRawBytes;
    const tiedSeg = this.tiedSegment !== undefined ? flat.segments[this.tiedSegment] : undefined;
    const fused = this.powerSgd !== undefined;
    if (this.model.config.tied) {
      const wteBytes = this.model.config.vocab * C * 4;
      if (tiedSeg) rawBytes += wteBytes; // the exact stage-to-stage exchange it replaces
      if (fused) wireBytes += await this.wait(this.syncTiedFused(grad, step));
      else if (tiedSeg) {
        const mineG = grad.subarray(tiedSeg.offset, tiedSeg.offset + tiedSeg.size);
        const partner = this.layout.pipeline[this.first ? S - 1 : 0];
        const sent = this.comm.send(mineG, partner, EMBEDDING);
        const theirs = floats(await this.wait(this.comm.recv(partner, EMBEDDING)), mineG.length);
        await this.wait(sent);
        addInto(mineG, theirs, 0);
        wireBytes += wteBytes;
      }
    }
    const dpLen = fused && tiedSeg ? tiedSeg.offset : flat.numel;
    const dpBytes = ringAllReduceBytes(dpLen * 4, this.layout.dp);
    rawBytes += ringAllReduceBytes(flat.numel * 4, this.layout.dp);
    wireBytes += dpBytes;
    if (this.layout.dp > 1) {
      const part = grad.subarray(0, dpLen);
      await this.wait(this.comm.allReduce(part, { ranks: this.layout.dpGroup }));
      const scale = 1 / this.layout.dp;
      for (let i = 0; i < dpLen; i++) grad[i] *= scale;
    }

    // Step 4: global norm (the last stage's embedding copy counted once, on the first stage) and loss.
    let sq = 0;
    const normLen = this.last && tiedSeg ? tiedSeg.offset : flat.numel;
    for (let i = 0; i < normLen; i++) sq += grad[i] * grad[i];
    const totals = await this.wait(this.comm.allReduce(Float32Array.of(sq, lossSum)));
    const gradNorm = Math.sqrt(totals[0] / this.layout.dp);
    const loss = totals[1] / this.layout.dp;
    const { lr, opt, clip } = stepUpdate(step, this.train, gradNorm);
    adamwStep(flat, grad, step + 1, opt, clip);

    return {
      step,
      loss,
      ...clock.stop(this.exposedMs),
      encodeMs,
      decodeMs,
      rawBytes,
      wireBytes,
      gradNorm,
      lr,
      bubbleMs: this.bubbleMs,
      interStageBytes,
      interStageRawBytes,
      ...(relErrors.length || actErrors.length
        ? {
            stats: {
              ...(relErrors.length ? { backpropRelError: mean(relErrors) } : {}),
              ...(actErrors.length ? { activationRelError: mean(actErrors) } : {}),
            },
          }
        : {}),
    };
  }

  /**
   * Optimus-CC fused embedding sync: first and last stage ranks reduce the tied gradient in one
   * compressed all-reduce; the middle stages issue the same number of (empty, local) calls to
   * keep every rank's collective sequence in step. Returns the bytes this rank sent.
   */
  private async syncTiedFused(grad: Float32Array, step: number): Promise<number> {
    const seg = this.tiedSegment !== undefined ? this.flat.segments[this.tiedSegment] : undefined;
    if (!seg) {
      for (let i = 0; i < POWERSGD_ROUNDS; i++)
        await this.comm.allReduce(new Float32Array(1), { ranks: [this.comm.rank] });
      return 0;
    }
    const g = grad.subarray(seg.offset, seg.offset + seg.size);
    const shape = seg.spec.shape as [number, number];
    const { sum, wireBytes } = await fusedEmbeddingSync(
      g.slice(),
      shape,
      this.comm,
      this.embeddingGroup,
      this.powerSgd!,
      this.embeddingEf,
      step,
    );
    const scale = 1 / this.layout.dp;
    for (let i = 0; i < g.length; i++) g[i] = sum[i] * scale;
    return wireBytes;
  }
}

/** All-reduces a PowerSGD exchange issues (P, then Q). */
const POWERSGD_ROUNDS = 2;

/** Bytes received as floats (copied when unaligned), checking the length when it is known. */
function floats(bytes: Uint8Array, expect?: number): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw new Error(`received ${bytes.byteLength} bytes, not floats`);
  const f =
    bytes.byteOffset % 4 === 0
      ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
      : new Float32Array(bytes.slice().buffer);
  if (expect !== undefined && f.length !== expect)
    throw new Error(`expected ${expect} floats from the neighbouring stage, got ${f.length}`);
  return f;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function addInto(dst: Float32Array, src: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] += src[i];
}
