/**
 * Bytes that cross between nodes in one step, from a method's collectives: what the links count
 * (engine/parallel/inter-node-bytes.ts) before frame headers. The engine's rings run in group
 * order over contiguous nodes, so in a ring of n ranks on N nodes the last rank of each node
 * passes n - 1 chunks of bytes/n to the next node; an all-to-all sends every peer its part.
 */
import type { GroupShape } from './cost.js';
import { groupShapes } from './fsdp-plan.js';
import type { CollectiveCall, MethodProfile } from '../run/projection-types.js';

/** Bytes that cross nodes in one call, over every group of that shape in a world of `world` ranks. */
export function callInterNodeBytes(c: CollectiveCall, g: GroupShape, world: number): number {
  if (g.nodes <= 1 || g.size <= 1) return 0;
  const groups = world / g.size;
  const ring = g.nodes * ((g.size - 1) / g.size) * c.bytes;
  switch (c.op) {
    case 'all-gather':
    case 'reduce-scatter':
      return groups * ring;
    case 'all-reduce':
      return groups * 2 * ring;
    case 'hierarchical-all-reduce':
      // Only the all-reduce of each position's 1/perNode crosses nodes, on perNode rings of N.
      return g.perNode <= 1 ? groups * 2 * ring : groups * 2 * (g.nodes - 1) * c.bytes;
    case 'all-to-all':
      return groups * (g.size - g.perNode) * c.bytes;
  }
}

/**
 * Bytes crossing nodes per step over all ranks for a measured method profile: its parameter
 * gathers and reductions as the projection lays them out, plus the loss and gradient-norm
 * all-reduce that ends every step.
 */
export function projectedInterNodeBytes(p: MethodProfile): number {
  const groups = groupShapes(p);
  const at = (c: CollectiveCall | undefined): number =>
    c ? callInterNodeBytes(c, groups[c.group], p.world) : 0;
  let total = 0;
  for (const u of p.units)
    total += at(u.forwardGather) + at(u.backwardGather) + u.reduce.reduce((a, r) => a + at(r), 0);
  const norm = p.world * (p.units.length + 1) * 4;
  return total + at({ op: 'all-reduce', group: 'world', bytes: norm });
}
