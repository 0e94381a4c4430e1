import type { CommClient } from './comm-client.js';

export type ShardingStrategy = 'FULL_SHARD' | 'SHARD_GRAD_OP' | 'NO_SHARD' | 'HYBRID_SHARD';

/** The collectives a rank's training loop uses (implemented by CommClient). */
export type Comm = Pick<
  CommClient,
  | 'allReduce'
  | 'reduceScatter'
  | 'allGather'
  | 'allGatherV'
  | 'allToAllV'
  | 'reduce'
  | 'broadcast'
  | 'barrier'
  | 'stats'
  | 'rank'
  | 'world'
>;
