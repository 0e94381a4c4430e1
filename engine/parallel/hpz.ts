/**
 * hpZ (ZeRO++ hierarchical partitioning): FULL_SHARD gathers each unit over every node in
 * forward and again in backward. With hpZ a rank keeps, from the forward gather, the slice of the
 * unit that its position in the node owns (a secondary shard, 1/ranks-per-node of the unit), and
 * the backward gather reassembles the unit from those slices inside the node: backward parameter
 * traffic never crosses nodes. The price is the secondary shards' memory, reported per rank. The
 * slices hold the parameters exactly as forward used them (decoded, for bf16 or int8 gathers), so
 * forward and backward see the same weights.
 */
import { chunkOffsets } from '../comm/collectives.js';
import type { FlatUnit } from './flat-unit.js';
import type { ShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';

export class SecondaryShards {
  private readonly slices = new Map<number, Float32Array>();
  private readonly node: number[];
  private readonly index: number;

  constructor(plan: ShardPlan) {
    this.node = plan.nodeGroup ?? [plan.rank];
    this.index = this.node.indexOf(plan.rank);
  }

  /** Keeps this rank's node slice of a unit's gathered parameters (after its forward gather). */
  keep(unit: FlatUnit, gathered: Float32Array): void {
    const offs = chunkOffsets(unit.padded, this.node.length, 1);
    const [a, b] = [offs[this.index], offs[this.index + 1]];
    let s = this.slices.get(unit.index);
    if (!s) this.slices.set(unit.index, (s = new Float32Array(b - a)));
    s.set(gathered.subarray(a, b));
  }

  /** The unit again, from the node's slices (a copy when the node is this rank alone). */
  gather(unit: FlatUnit, comm: Comm): Promise<Float32Array> {
    const s = this.slices.get(unit.index);
    if (!s) throw new Error(`hpZ: unit ${unit.index} has no secondary shard (no forward gather)`);
    if (this.node.length === 1) {
      unit.gathered.set(s);
      return Promise.resolve(unit.gathered);
    }
    return comm.allGather(s, unit.padded, this.node, unit.gathered);
  }

  /** Bytes this rank sends in one backward gather of `unit` (inside the node). */
  wireBytes(unit: FlatUnit): number {
    const n = this.node.length;
    return n > 1 ? (unit.padded / n) * 4 * (n - 1) : 0;
  }

  /** Memory the secondary shards take on this rank. */
  get bytes(): number {
    let total = 0;
    for (const s of this.slices.values()) total += s.byteLength;
    return total;
  }
}
