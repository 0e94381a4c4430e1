/**
 * One FSDP unit as a flat fp32 vector: parameters laid out back to back, padded so the shard
 * group splits it evenly; this rank keeps only its shard, with AdamW state for that shard.
 */
import { initUnit, numel, unitNumel, type ParamSpec, type UnitSpec } from '../model/gpt.js';
import type { ShardPlan } from './shard-plan.js';

export interface ParamSegment {
  spec: ParamSpec;
  offset: number;
  size: number;
}

export class FlatUnit {
  readonly numel: number;
  readonly padded: number;
  readonly shardSize: number;
  readonly segments: ParamSegment[];
  /** This rank's slice of the flat vector: [shardStart, shardStart + shardSize). */
  readonly shardStart: number;
  readonly shard: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** 1 where weight decay applies (matrices), per shard element. */
  readonly decayMask: Uint8Array;
  /**
   * Buffers reused every step (fresh multi-MiB allocations cost a page fault per 4 KiB): the
   * gathered parameters, the local full gradient and the reduced gradient shard. The gradients
   * live in shared memory, so the comm worker reduces in them directly (no staging copies); the
   * gathered parameters do not: tfjs's cpu backend keeps the array a tensor was made from, and a
   * gather written by the worker while such a tensor lives would change it under the compute.
   */
  readonly gathered: Float32Array;
  readonly grad: Float32Array;
  readonly gradShard: Float32Array;

  constructor(
    readonly spec: UnitSpec,
    readonly index: number,
    plan: ShardPlan,
    seed: number,
  ) {
    this.numel = unitNumel(spec);
    const parts = plan.shardGroup.length;
    this.padded = Math.ceil(this.numel / parts) * parts;
    this.shardSize = this.padded / parts;
    this.shardStart = plan.shardIndex * this.shardSize;
    let off = 0;
    this.segments = spec.params.map((p) => {
      const seg = { spec: p, offset: off, size: numel(p.shape) };
      off += seg.size;
      return seg;
    });
    // Every rank initialises the whole unit from the seed and keeps its slice, so the model is
    // identical for any world size.
    const full = new Float32Array(this.padded);
    initUnit(spec, index, seed, full.subarray(0, this.numel));
    this.shard = full.slice(this.shardStart, this.shardStart + this.shardSize);
    this.m = new Float32Array(this.shardSize);
    this.v = new Float32Array(this.shardSize);
    this.decayMask = new Uint8Array(this.shardSize);
    this.gathered = new Float32Array(this.padded);
    this.grad = sharedF32(this.padded);
    this.gradShard = sharedF32(this.shardSize);
    for (const s of this.segments) {
      if (!s.spec.decay) continue;
      const lo = Math.max(s.offset, this.shardStart);
      const hi = Math.min(s.offset + s.size, this.shardStart + this.shardSize);
      for (let i = lo; i < hi; i++) this.decayMask[i - this.shardStart] = 1;
    }
  }

  /** Views of each parameter inside a gathered (full, padded) flat vector. */
  views(full: Float32Array): Float32Array[] {
    return this.segments.map((s) => full.subarray(s.offset, s.offset + s.size));
  }
}

function sharedF32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}
