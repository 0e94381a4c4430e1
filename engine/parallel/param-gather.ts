/**
 * A unit's parameter all-gather in its communication format (compress/param-codec.ts): fp32 moves
 * the shards as they are; a codec encodes this rank's shard once per step (FULL_SHARD gathers a
 * unit twice, from the same shard), gathers the payloads as bytes and decodes every rank's into
 * the unit's gathered buffer.
 */
import { createParamCodec, type ParamComm } from '../compress/param-codec.js';
import type { FlatUnit } from './flat-unit.js';
import type { ShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';

interface Encoded {
  step: number;
  payload: Uint8Array;
  gathered: Uint8Array;
}

export class ParamGather {
  private readonly codec;
  private readonly encoded = new Map<number, Encoded>();

  constructor(
    readonly format: ParamComm,
    private readonly plan: ShardPlan,
  ) {
    this.codec = createParamCodec(format);
  }

  /** Bytes this rank sends for one gather of `unit` (a ring passes on every other rank's payload once). */
  wireBytes(unit: FlatUnit): number {
    const n = this.plan.shardGroup.length;
    const payload = this.codec ? this.codec.payloadBytes(unit.shardSize) : unit.shardSize * 4;
    return n > 1 ? payload * (n - 1) : 0;
  }

  /** The same gather in fp32. */
  rawBytes(unit: FlatUnit): number {
    const n = this.plan.shardGroup.length;
    return n > 1 ? unit.shardSize * 4 * (n - 1) : 0;
  }

  /**
   * The full (padded) parameters of `unit`, in `unit.gathered`. `step` keys the encoded shard:
   * the shard changes only at the optimizer update that ends a step; a negative step encodes
   * afresh.
   */
  async gather(unit: FlatUnit, comm: Comm, step: number): Promise<Float32Array> {
    const group = this.plan.shardGroup;
    if (!this.codec) return comm.allGather(unit.shard, unit.padded, group, unit.gathered);
    const bytes = this.codec.payloadBytes(unit.shardSize);
    let e = this.encoded.get(unit.index);
    if (!e) {
      e = {
        step: -1,
        payload: new Uint8Array(bytes),
        gathered: new Uint8Array(bytes * group.length),
      };
      this.encoded.set(unit.index, e);
    }
    if (step < 0 || e.step !== step) {
      this.codec.encode(unit.shard, e.payload);
      e.step = step;
    }
    const all = await comm.allGather(e.payload, e.gathered.length, group, e.gathered);
    const n = unit.shardSize;
    for (let r = 0; r < group.length; r++)
      this.codec.decodeInto(
        all.subarray(r * bytes, (r + 1) * bytes),
        unit.gathered.subarray(r * n, (r + 1) * n),
      );
    return unit.gathered;
  }
}
