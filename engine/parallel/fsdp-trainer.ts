/**
 * Sharded data-parallel training of the GPT, one wrapped unit at a time.
 *
 * One step (numbered as in the comments below):
 *   1. Forward, unit by unit: the all-gather of unit k+1 is issued before unit k computes
 *      (prefetch), so the comm worker moves unit k+1's shards while tfjs runs unit k.
 *   2. Backward, unit by unit in reverse: gather unit k-1 ahead (FULL_SHARD / HYBRID_SHARD),
 *      recompute unit k's forward inside tf.grads and get its gradients, hand them to the gradient
 *      reducer (the hook compression methods implement) without waiting, move on to unit k-1.
 *   3. Wait for all reductions; one all-reduce of every rank's loss and per-unit squared gradient
 *      sums gives the global gradient norm and the health check (health.ts) the same figures on
 *      every rank; clip by the global norm; AdamW on the local shard, unless a non-finite value
 *      anywhere makes every rank skip this step's update.
 * Exposed communication is the time the compute thread spends waiting on (1)-(3); total
 * communication is the time the worker spends in collectives.
 *
 * Parameter gathers and gradient reductions run on two comm streams (ordered-stream.ts), so a
 * prefetch never queues behind a reduction, and each stream's order of collectives is fixed by
 * the program whatever the timing of the reducers' continuations.
 */
import * as tf from '@tensorflow/tfjs';
import { GRAD_STREAM, PARAM_STREAM } from '../comm/stream-transport.js';
import type { Gpt } from '../model/gpt.js';
import { adamwStep, stepUpdate } from './adamw.js';
import { FlatUnit } from './flat-unit.js';
import type { GradientReducer, ReduceResult } from './grad-reducer.js';
import {
  HEALTH_DEFAULTS,
  HealthMonitor,
  locateNonFinite,
  skipsUpdate,
  sumSquares,
  type HealthFinding,
  type HealthOptions,
  type StepFigures,
} from './health.js';
import type { ParamComm } from '../compress/param-codec.js';
import { OrderedStream } from './ordered-stream.js';
import { ParamGather } from './param-gather.js';
import { SecondaryShards } from './hpz.js';
import type { ShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';
import { StepClock } from './step-clock.js';

export interface TrainConfig {
  steps: number;
  lr: number;
  warmupSteps: number;
  weightDecay: number;
  gradClip: number;
  seed: number;
  /** Format of the parameter all-gathers (compress/param-codec.ts); fp32 when absent. */
  paramComm?: ParamComm;
  /** FULL_SHARD: keep a secondary parameter shard per node so backward gathers stay inside it (hpz.ts). */
  hpz?: boolean;
}

export interface StepStats {
  step: number;
  loss: number;
  stepMs: number;
  computeMs: number;
  exposedCommMs: number;
  commMs: number;
  encodeMs: number;
  decodeMs: number;
  rawBytes: number;
  wireBytes: number;
  /** Bytes this rank sent in parameter all-gathers this step, and the same gathers in fp32. */
  paramWireBytes?: number;
  paramRawBytes?: number;
  /** hpZ: memory of this rank's secondary parameter shards. */
  secondaryBytes?: number;
  gradNorm: number;
  lr: number;
  /** Relative error of the compressed aggregate on sampled steps (this rank's shards). */
  relError?: number;
  /** Method-specific figures, averaged over the units that report them. */
  stats?: Record<string, number>;
  /** Health findings of this step, for every rank (the same on every rank). */
  health: HealthFinding[];
  /** The optimizer update was skipped (a non-finite gradient or loss on some rank). */
  skipped: boolean;
}

export interface Batch {
  x: Int32Array; // [B * T] token ids
  y: Int32Array; // [B * T] next-token targets
  batch: number;
}

export class FsdpTrainer {
  readonly units: FlatUnit[];
  readonly health: HealthMonitor;
  private exposedMs = 0;
  private readonly params: OrderedStream;
  private readonly grads: OrderedStream;
  private readonly paramGather: ParamGather;
  private readonly secondary: SecondaryShards | undefined;
  private paramBytes = { wire: 0, raw: 0 };

  constructor(
    readonly model: Gpt,
    readonly comm: Comm,
    readonly plan: ShardPlan,
    readonly reducer: GradientReducer,
    readonly train: TrainConfig,
    health: HealthOptions = HEALTH_DEFAULTS,
  ) {
    this.units = model.units.map((u, i) => new FlatUnit(u, i, plan, train.seed));
    this.health = new HealthMonitor(health, comm.world);
    this.params = new OrderedStream(comm, PARAM_STREAM);
    this.grads = new OrderedStream(comm, GRAD_STREAM);
    this.paramGather = new ParamGather(train.paramComm ?? 'fp32', plan);
    // Only FULL_SHARD gathers across nodes in backward (HYBRID_SHARD's groups are the nodes).
    this.secondary =
      train.hpz && plan.strategy === 'FULL_SHARD' && plan.shardGroup.length > 1
        ? new SecondaryShards(plan)
        : undefined;
  }

  /** Awaits `p`, counting the wait as exposed communication. */
  private async wait<T>(p: Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await p;
    } finally {
      this.exposedMs += performance.now() - t0;
    }
  }

  private gather(k: number, step = -1): Promise<Float32Array> {
    const u = this.units[k];
    if (this.plan.shardGroup.length === 1) return Promise.resolve(u.shard);
    this.paramBytes.wire += this.paramGather.wireBytes(u);
    this.paramBytes.raw += this.paramGather.rawBytes(u);
    return this.params.task((c) => this.paramGather.gather(u, c, step));
  }

  /** Backward's gather of unit k: from the node's secondary shards under hpZ. */
  private regather(k: number, step: number): Promise<Float32Array> {
    const secondary = this.secondary;
    if (!secondary) return this.gather(k, step);
    const u = this.units[k];
    this.paramBytes.wire += secondary.wireBytes(u);
    this.paramBytes.raw += this.paramGather.rawBytes(u);
    return this.params.task((c) => secondary.gather(u, c));
  }

  private tensors(k: number, full: Float32Array): tf.Tensor[] {
    const u = this.units[k];
    return u.views(full).map((v, i) => tf.tensor(v, u.segments[i].spec.shape));
  }

  async step(step: number, batch: Batch): Promise<StepStats> {
    const clock = new StepClock(this.comm);
    this.exposedMs = 0;
    this.paramBytes = { wire: 0, raw: 0 };
    const U = this.units.length;
    const T = this.model.config.seqLen;
    const tied = this.model.config.tied;
    const idx = tf.tensor2d(batch.x, [batch.batch, T], 'int32');
    const targets = tf.tensor2d(batch.y, [batch.batch, T], 'int32');

    // Step 1: forward with prefetch.
    const gathers: (Promise<Float32Array> | undefined)[] = new Array(U);
    const params: (tf.Tensor[] | undefined)[] = new Array(U);
    const inputs: tf.Tensor[] = new Array(U);
    gathers[0] = this.gather(0, step);
    let h: tf.Tensor = idx;
    let loss = NaN;
    for (let k = 0; k < U; k++) {
      if (k + 1 < U) gathers[k + 1] = this.gather(k + 1, step);
      params[k] = this.tensors(k, await this.wait(gathers[k]!));
      gathers[k] = undefined;
      inputs[k] = h;
      const p = params[k]!;
      if (k === 0) h = tf.tidy(() => this.model.embed(p, idx));
      else if (k < U - 1) h = tf.tidy(() => this.model.block(p, inputs[k]));
      else
        loss = tf
          .tidy(() => this.model.head(p, inputs[k], targets, tied ? params[0]![0] : undefined))
          .arraySync() as number;
      // FULL_SHARD frees a unit's gathered parameters after use (the head is used again at once,
      // and tied embeddings stay with the root unit, as FSDP keeps shared parameters together).
      const keep = !this.plan.regatherInBackward || k === U - 1 || (tied && k === 0);
      if (!keep) {
        this.secondary?.keep(this.units[k], this.units[k].gathered);
        tf.dispose(p);
        params[k] = undefined;
      }
    }

    // Step 2: backward, unit by unit, reductions left in flight.
    const reductions: Promise<ReduceResult>[] = new Array(U);
    const grads: Float32Array[] = this.units.map((u) => u.grad.fill(0));
    let dy: tf.Tensor | undefined;
    for (let k = U - 1; k >= 0; k--) {
      if (k - 1 >= 0 && !params[k - 1]) gathers[k - 1] = this.regather(k - 1, step);
      if (!params[k]) params[k] = this.tensors(k, await this.wait(gathers[k]!));
      const p = params[k]!;
      const upstream = dy;
      const out = tf.tidy(() => {
        if (k === U - 1) {
          const args = tied ? [inputs[k], ...p, params[0]![0]] : [inputs[k], ...p];
          return tf.grads((x: tf.Tensor, ...ps: tf.Tensor[]) =>
            this.model.head(ps.slice(0, p.length), x, targets, tied ? ps[p.length] : undefined),
          )(args);
        }
        if (k === 0)
          return tf.grads((...ps: tf.Tensor[]) => this.model.embed(ps, idx))(p, upstream);
        return tf.grads((x: tf.Tensor, ...ps: tf.Tensor[]) => this.model.block(ps, x))(
          [inputs[k], ...p],
          upstream,
        );
      });
      upstream?.dispose();
      const g = grads[k];
      const paramGrads = k === 0 ? out : out.slice(1, 1 + p.length);
      // Accumulate (buffers start at zero): with tied embeddings the head has already added its
      // d(wte) into the embedding unit's wte segment.
      this.units[k].segments.forEach((s, i) =>
        addInto(g, paramGrads[i].dataSync() as Float32Array, s.offset),
      );
      if (tied && k === U - 1) addInto(grads[0], out[1 + p.length].dataSync() as Float32Array, 0); // wte is unit 0's first segment
      dy = k > 0 ? out[0] : undefined;
      tf.dispose(k === 0 ? out : out.slice(1));
      const unit = this.units[k];
      reductions[k] = this.grads.task((comm) =>
        this.reducer.reduce(g, { comm, plan: this.plan, unit, step }),
      );
      if (k !== 0 || !tied) {
        tf.dispose(p);
        params[k] = undefined;
      }
      if (k > 0) inputs[k].dispose();
    }
    tf.dispose(params.filter((p): p is tf.Tensor[] => !!p).flat());
    targets.dispose();
    idx.dispose();

    // Step 3: wait for the reductions, exchange the step's figures, check them, clip by the
    // global norm, update the local shards.
    const results = await this.wait(Promise.all(reductions));
    const figures = await this.stepFigures(step, loss, results);
    const health = this.health.check(figures, (rank, k) => {
      if (rank !== this.comm.rank) return undefined;
      const u = this.units[k];
      const named = u.segments.map((s) => ({ name: s.spec.name, offset: s.offset, size: s.size }));
      return locateNonFinite(u.spec.name, named, results[k].shard, u.shardStart);
    });
    const skipped = skipsUpdate(health);
    const gradNorm = figures.gradNorm;
    const { lr, opt, clip } = stepUpdate(step, this.train, gradNorm);
    if (!skipped) results.forEach((r, k) => adamwStep(this.units[k], r.shard, step + 1, opt, clip));

    const sum = (f: (r: ReduceResult) => number): number => results.reduce((a, r) => a + f(r), 0);
    return {
      step,
      loss,
      ...clock.stop(this.exposedMs),
      encodeMs: sum((r) => r.encodeMs),
      decodeMs: sum((r) => r.decodeMs),
      rawBytes: sum((r) => r.rawBytes),
      wireBytes: sum((r) => r.wireBytes),
      paramWireBytes: this.paramBytes.wire,
      paramRawBytes: this.paramBytes.raw,
      ...(this.secondary ? { secondaryBytes: this.secondary.bytes } : {}),
      gradNorm,
      lr,
      ...relativeError(results),
      ...methodStats(results),
      health,
      skipped,
    };
  }

  /**
   * Every rank's loss and per-unit sums of squares of its reduced gradient shard, in one small
   * all-reduce over the world (each rank fills its own slot, the rest are zeros). The global norm
   * sums the slots of this rank's shard group: replicas (HYBRID_SHARD, NO_SHARD) hold copies of
   * the same shards. Every rank decides from the same f32 figures, so decisions agree.
   */
  private async stepFigures(
    step: number,
    loss: number,
    results: ReduceResult[],
  ): Promise<StepFigures> {
    const U = results.length;
    const slot = U + 1; // [loss, unit 0 .. unit U-1]
    let v = new Float32Array(this.comm.world * slot);
    const mine = this.comm.rank * slot;
    v[mine] = loss;
    results.forEach((r, k) => (v[mine + 1 + k] = sumSquares(r.shard)));
    if (this.comm.world > 1) v = await this.wait(this.grads.task((c) => c.allReduce(v)));
    const unitSq = (rank: number, k: number): number => v[rank * slot + 1 + k];
    let sq = 0;
    for (const rank of this.plan.shardGroup) for (let k = 0; k < U; k++) sq += unitSq(rank, k);
    return {
      step,
      losses: Array.from({ length: this.comm.world }, (_, rank) => v[rank * slot]),
      units: U,
      unitSq,
      gradNorm: Math.sqrt(sq),
    };
  }

  /** The full flat parameters of unit k (gathers; for checks and checkpoints). */
  async fullParams(k: number): Promise<Float32Array> {
    return (await this.gather(k)).slice(0, this.units[k].numel); // a copy: the gather buffer is reused
  }
}

function relativeError(results: ReduceResult[]): { relError?: number } {
  const probes = results.filter((r) => r.errorProbe).map((r) => r.errorProbe!);
  if (probes.length === 0) return {};
  const diff = probes.reduce((a, p) => a + p.diffSq, 0);
  const exact = probes.reduce((a, p) => a + p.exactSq, 0);
  return { relError: exact > 0 ? Math.sqrt(diff / exact) : 0 };
}

function methodStats(results: ReduceResult[]): { stats?: Record<string, number> } {
  const sums = new Map<string, { total: number; n: number }>();
  for (const r of results) {
    for (const [k, v] of Object.entries(r.stats ?? {})) {
      const s = sums.get(k) ?? { total: 0, n: 0 };
      s.total += v;
      s.n++;
      sums.set(k, s);
    }
  }
  if (sums.size === 0) return {};
  return { stats: Object.fromEntries([...sums].map(([k, s]) => [k, s.total / s.n])) };
}

function addInto(dst: Float32Array, src: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) dst[offset + i] += src[i];
}
