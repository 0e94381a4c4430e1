/**
 * What FSDP moves per unit under each sharding strategy, as engine/parallel (shard-plan.ts,
 * fsdp-trainer.ts, grad-reducer.ts, compressed-reducer.ts) does it, and how much compute each unit
 * costs in FLOPs. Bytes come from the model's dimensions, so a projection can resize the model.
 */
import { unitNumel, unitSpecs } from '../model/gpt.js';
import type { GroupShape } from './cost.js';
import type {
  CollectiveCall,
  GroupName,
  ModelDims,
  ReducePattern,
  ShardingName,
  UnitKind,
} from '../run/projection-types.js';

export interface Layout {
  world: number;
  nodes: number;
  sharding: ShardingName;
}

/** The shard, replica and world groups of one rank (all ranks' groups have the same shape). */
export function groupShapes(l: Layout): Record<GroupName, GroupShape> {
  const perNode = l.world / l.nodes;
  const world = { size: l.world, nodes: l.nodes, perNode };
  const one = { size: 1, nodes: 1, perNode: 1 };
  const node = { size: perNode, nodes: 1, perNode };
  const column = { size: l.nodes, nodes: l.nodes, perNode: 1 };
  switch (l.sharding) {
    case 'FULL_SHARD':
    case 'SHARD_GRAD_OP':
      return { shard: world, replica: one, world, node, column };
    case 'NO_SHARD':
      return { shard: one, replica: world, world, node, column };
    case 'HYBRID_SHARD':
      return { shard: node, replica: column, world, node, column };
  }
}

export interface UnitShape {
  name: string;
  kind: UnitKind;
  numel: number;
}

export function unitShapes(m: ModelDims): UnitShape[] {
  return unitSpecs(m).map((u) => ({ name: u.name, kind: u.kind, numel: unitNumel(u) }));
}

/**
 * Forward FLOPs of one unit for `tokens` tokens. The engine embeds by a one-hot matmul
 * (2 tokens V C); a GPU framework gathers rows instead (`oneHotEmbedding` false: no FLOPs).
 */
export function forwardFlops(
  kind: UnitKind,
  m: ModelDims,
  tokens: number,
  oneHotEmbedding: boolean,
): number {
  const C = m.dModel;
  switch (kind) {
    case 'embedding':
      return oneHotEmbedding ? 2 * tokens * m.vocab * C : 0;
    case 'block':
      // qkv 3C^2 + proj C^2 + mlp 8C^2 multiply-adds per token, plus QK^T and AV over seqLen.
      return 24 * tokens * C * C + 4 * tokens * m.seqLen * C;
    case 'head':
      return 2 * tokens * C * m.vocab;
  }
}

/** Backward recomputes the unit's forward inside tf.grads (activation checkpointing), then 2x. */
export const BACKWARD_FLOPS_FACTOR = 3;

const padTo = (n: number, parts: number): number => Math.ceil(n / parts) * parts;

export interface UnitCollectives {
  forwardGather?: CollectiveCall;
  backwardGather?: CollectiveCall;
  reduce: CollectiveCall[];
}

/**
 * The collectives of unit `index` (of `count`). `ratio` is the compressed part's wire bytes over
 * an fp32 ring reduce-scatter of the same gradient on the compression group; `paramRatio` the
 * parameter gathers' bytes over fp32 (compress/param-codec.ts). With `hpz` the backward gather
 * reassembles the unit from the node's secondary shards: fp32 inside the node, a local copy when
 * the node is one rank (engine/parallel/hpz.ts). `slowest`: the compressed part's busiest sender
 * over the mean (MethodProfile.sendImbalance).
 */
export function unitCollectives(
  l: Layout,
  unit: { numel: number; index: number; count: number; tied: boolean },
  pattern: ReducePattern,
  ratio: number,
  paramRatio = 1,
  hpz = false,
  slowest = 1,
): UnitCollectives {
  const g = groupShapes(l);
  const s = g.shard.size;
  const padded = padTo(unit.numel, s);
  const fp32 = padded * 4;
  const out: UnitCollectives = { reduce: [] };
  if (s > 1) {
    out.forwardGather = { op: 'all-gather', group: 'shard', bytes: fp32 * paramRatio };
    const regather = l.sharding === 'FULL_SHARD' || l.sharding === 'HYBRID_SHARD';
    const kept = unit.index === unit.count - 1 || (unit.tied && unit.index === 0);
    if (regather && !kept) out.backwardGather = backwardGather(l, out.forwardGather, fp32, hpz);
  }
  const shardBytes = (padded / s) * 4;
  if (pattern === 'fsdp') {
    if (s > 1) out.reduce.push({ op: 'reduce-scatter', group: 'shard', bytes: fp32 });
    if (g.replica.size > 1) {
      out.reduce.push({ op: 'all-reduce', group: 'replica', bytes: s > 1 ? shardBytes : fp32 });
    }
    return out;
  }
  const group: GroupName = s > 1 ? 'shard' : 'replica';
  if (g[group].size <= 1) return out;
  const payload = fp32 * ratio;
  const compressed: CollectiveCall[] = [];
  if (pattern === 'reduce-scatter')
    compressed.push({ op: 'reduce-scatter', group, bytes: payload });
  else if (pattern === 'all-to-all') compressed.push({ op: 'all-to-all', group, bytes: payload });
  else if (pattern === 'hierarchical-all-to-all')
    compressed.push(...hierarchical(g[group], group, payload));
  // A method's own rounds: as many bytes as measured, sent like an all-reduce, one extra round.
  else compressed.push({ op: 'all-reduce', group, bytes: payload / 2, rounds: 1 });
  out.reduce.push(...(slowest > 1 ? compressed.map((c) => ({ ...c, slowest })) : compressed));
  if (group === 'shard' && g.replica.size > 1)
    out.reduce.push({ op: 'all-reduce', group: 'replica', bytes: shardBytes });
  if (group === 'replica') out.reduce.push({ op: 'all-gather', group: 'replica', bytes: fp32 });
  return out;
}

/** hpZ's backward gather (FULL_SHARD only: HYBRID_SHARD's shard group is the node already). */
function backwardGather(
  l: Layout,
  forward: CollectiveCall,
  fp32: number,
  hpz: boolean,
): CollectiveCall | undefined {
  if (!hpz || l.sharding !== 'FULL_SHARD') return { ...forward };
  return l.world / l.nodes > 1 ? { op: 'all-gather', group: 'node', bytes: fp32 } : undefined;
}

/**
 * qgZ's two all-to-alls (compress/qgz.ts): inside the node every rank sends each node peer the
 * chunks that peer's position owns on every node; across nodes each rank sends its node sum's
 * part for each owner at its position (1/perNode of the vector). Without a node structure: one
 * flat all-to-all. The per-rank bytes add up to an all-to-all's (n-1)/n of the payload.
 */
function hierarchical(g: GroupShape, name: GroupName, payload: number): CollectiveCall[] {
  if (g.nodes <= 1 || g.perNode <= 1) return [{ op: 'all-to-all', group: name, bytes: payload }];
  return [
    { op: 'all-to-all', group: 'node', bytes: payload },
    { op: 'all-to-all', group: 'column', bytes: payload / g.perNode },
  ];
}

/** fp32 bytes this rank sends for unit gradients outside the compressed part, and the compressed part's fp32 reference. */
export function reductionReference(
  l: Layout,
  numel: number,
): { fixedSent: number; compressibleSent: number } {
  const g = groupShapes(l);
  const s = g.shard.size;
  const padded = padTo(numel, s);
  const n = s > 1 ? s : g.replica.size;
  const compressibleSent = n > 1 ? (padded * 4 * (n - 1)) / n : 0;
  let fixedSent = 0;
  const r = g.replica.size;
  if (s > 1 && r > 1) fixedSent = (2 * (padded / s) * 4 * (r - 1)) / r;
  if (s === 1 && r > 1) fixedSent = (padded * 4 * (r - 1)) / r;
  return { fixedSent, compressibleSent };
}
