/**
 * Who holds which part of every wrapped unit, per sharding strategy (ZeRO-3 / FSDP semantics):
 * - FULL_SHARD: parameters sharded over all ranks; gathered for forward, freed, gathered again
 *   for backward; gradients reduce-scattered.
 * - SHARD_GRAD_OP (ZeRO-2-like): as FULL_SHARD, but gathered parameters are kept from forward to
 *   backward (no second gather).
 * - NO_SHARD (DDP): every rank holds everything; gradients all-reduced.
 * - HYBRID_SHARD: FULL_SHARD inside each node, replicated across nodes: gradients are
 *   reduce-scattered inside the node, then the shard is all-reduced across nodes.
 */
import type { ShardingStrategy } from '../comm/comm-types.js';

export interface ShardPlan {
  strategy: ShardingStrategy;
  rank: number;
  world: number;
  /** Ranks that together hold one copy of the parameters (this rank's shard is at shardIndex). */
  shardGroup: number[];
  /** Ranks holding the same shard as this rank (gradients are averaged across them too). */
  replicaGroup: number[];
  shardIndex: number;
  /** Gather parameters again in backward instead of keeping them from forward. */
  regatherInBackward: boolean;
  /** The ranks of this rank's node (hpZ keeps a secondary parameter shard over them). */
  nodeGroup?: number[];
}

export function makeShardPlan(
  strategy: ShardingStrategy,
  rank: number,
  world: number,
  nodes: number,
): ShardPlan {
  if (world % nodes !== 0)
    throw new Error(`nodes (${nodes}) must divide the world size (${world})`);
  const perNode = world / nodes;
  const all = Array.from({ length: world }, (_, r) => r);
  const node = Math.floor(rank / perNode);
  const nodeGroup = Array.from({ length: perNode }, (_, i) => node * perNode + i);
  switch (strategy) {
    case 'FULL_SHARD':
    case 'SHARD_GRAD_OP':
      return {
        strategy,
        rank,
        world,
        shardGroup: all,
        replicaGroup: [rank],
        shardIndex: rank,
        regatherInBackward: strategy === 'FULL_SHARD',
        nodeGroup,
      };
    case 'NO_SHARD':
      return {
        strategy,
        rank,
        world,
        shardGroup: [rank],
        replicaGroup: all,
        shardIndex: 0,
        regatherInBackward: false,
        nodeGroup,
      };
    case 'HYBRID_SHARD':
      return {
        strategy,
        rank,
        world,
        shardGroup: nodeGroup,
        replicaGroup: Array.from({ length: nodes }, (_, n) => n * perNode + (rank % perNode)),
        shardIndex: rank % perNode,
        regatherInBackward: true,
        nodeGroup,
      };
  }
}
