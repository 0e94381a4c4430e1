/**
 * The gradient-communication hook: where FSDP turns each unit's local gradient into the
 * averaged gradient of the shard this rank owns. The uncompressed baseline is one
 * implementation; every compression method is another, behind the same interface.
 */
import type { FlatUnit } from './flat-unit.js';
import type { ShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';

export interface ReduceContext {
  comm: Comm;
  plan: ShardPlan;
  unit: FlatUnit;
  step: number;
}

export interface ReduceResult {
  /** Averaged gradient of this rank's shard (length unit.shardSize). */
  shard: Float32Array;
  /** Bytes this rank would send uncompressed (fp32) for this reduction. */
  rawBytes: number;
  /** Bytes this rank actually sent. */
  wireBytes: number;
  encodeMs: number;
  decodeMs: number;
  /** Sampled: squared norms of (compressed aggregate - exact aggregate) and of the exact aggregate. */
  errorProbe?: { diffSq: number; exactSq: number };
  /** Method-specific figures for this unit (averaged over units into the step's metrics). */
  stats?: Record<string, number>;
}

export interface GradientReducer {
  readonly id: string;
  /** `grad` is this rank's full local gradient of the unit (length unit.padded); may be clobbered. */
  reduce(grad: Float32Array, ctx: ReduceContext): Promise<ReduceResult>;
}

/** Bytes one rank sends in a ring reduce-scatter / all-reduce of `bytes` over `n` ranks. */
export const ringReduceScatterBytes = (bytes: number, n: number): number =>
  n > 1 ? (bytes * (n - 1)) / n : 0;
export const ringAllReduceBytes = (bytes: number, n: number): number =>
  2 * ringReduceScatterBytes(bytes, n);

/** fp32 bytes the uncompressed FSDP reduction of one unit sends from this rank. */
export function baselineBytes(unit: FlatUnit, plan: ShardPlan): number {
  return (
    ringReduceScatterBytes(unit.padded * 4, plan.shardGroup.length) +
    ringAllReduceBytes(unit.shardSize * 4, plan.replicaGroup.length)
  );
}

/** Uncompressed FSDP: reduce-scatter (sum) in the shard group, all-reduce across replicas, average. */
export class FsdpBaselineReducer implements GradientReducer {
  readonly id = 'fsdp';

  async reduce(grad: Float32Array, { comm, plan, unit }: ReduceContext): Promise<ReduceResult> {
    let shard = grad;
    if (plan.shardGroup.length > 1)
      // In place: the local gradient is not needed after its reduction (zeroed next step).
      shard = await comm.reduceScatter(grad, {
        ranks: plan.shardGroup,
        out: unit.gradShard,
        inPlace: true,
      });
    if (plan.replicaGroup.length > 1)
      shard = await comm.allReduce(shard, { ranks: plan.replicaGroup });
    const scale = 1 / plan.world;
    for (let i = 0; i < shard.length; i++) shard[i] *= scale;
    const bytes = baselineBytes(unit, plan);
    return { shard, rawBytes: bytes, wireBytes: bytes, encodeMs: 0, decodeMs: 0 };
  }
}
