import { describe, expect, it } from 'vitest';
import { createParamCodec, paramCommRatio } from '../../engine/compress/param-codec.js';
import { unitCollectives } from '../../engine/projection/fsdp-plan.js';
import { callInterNodeBytes } from '../../engine/projection/inter-node.js';

describe('projection of compressed parameter gathers', () => {
  const layout = { world: 4, nodes: 2, sharding: 'FULL_SHARD' as const };
  const unit = { numel: 10_000, index: 1, count: 4, tied: false };

  it('scales both gathers of a unit by the format, and leaves the reduction alone', () => {
    const fp32 = unitCollectives(layout, unit, 'fsdp', 1);
    const int8 = unitCollectives(layout, unit, 'fsdp', 1, paramCommRatio('int8'));
    expect(int8.forwardGather!.bytes / fp32.forwardGather!.bytes).toBeCloseTo(0.2539, 3);
    expect(int8.backwardGather!.bytes).toBe(int8.forwardGather!.bytes);
    expect(int8.reduce).toEqual(fp32.reduce);
  });

  it('ratios are the codecs’ own payload sizes', () => {
    expect(paramCommRatio('fp32')).toBe(1);
    expect(paramCommRatio('bf16')).toBe(0.5);
    expect(paramCommRatio('int8')).toBe(createParamCodec('int8')!.payloadBytes(1 << 16) / 2 ** 18);
  });
});

describe('projection of hpZ and qgZ', () => {
  const layout = { world: 4, nodes: 2, sharding: 'FULL_SHARD' as const };
  const unit = { numel: 10_000, index: 1, count: 4, tied: false };
  const int8 = paramCommRatio('int8');

  it('hpZ: the backward gather is fp32 inside the node, the forward one keeps its format', () => {
    const c = unitCollectives(layout, unit, 'fsdp', 1, int8, true);
    expect(c.forwardGather).toEqual({ op: 'all-gather', group: 'shard', bytes: 40_000 * int8 });
    expect(c.backwardGather).toEqual({ op: 'all-gather', group: 'node', bytes: 40_000 });
    // One rank per node: the secondary shard is the whole unit, a local copy.
    const single = { world: 2, nodes: 2, sharding: 'FULL_SHARD' as const };
    expect(unitCollectives(single, unit, 'fsdp', 1, int8, true).backwardGather).toBeUndefined();
    // The last unit is kept from forward either way.
    const last = { ...unit, index: 3 };
    expect(unitCollectives(layout, last, 'fsdp', 1, int8, true).backwardGather).toBeUndefined();
  });

  it('qgZ: an all-to-all inside the node, then 1/perNode of it across nodes', () => {
    const c = unitCollectives(layout, unit, 'hierarchical-all-to-all', 0.25);
    expect(c.reduce).toEqual([
      { op: 'all-to-all', group: 'node', bytes: 10_000 },
      { op: 'all-to-all', group: 'column', bytes: 5_000 },
    ]);
    // One rank per node: no node structure, one flat all-to-all.
    const flat = unitCollectives(
      { world: 2, nodes: 2, sharding: 'FULL_SHARD' },
      unit,
      'hierarchical-all-to-all',
      0.25,
    );
    expect(flat.reduce).toEqual([{ op: 'all-to-all', group: 'shard', bytes: 10_000 }]);
  });

  it('bytes crossing nodes: a ring crosses once per node, an all-to-all sends every remote peer its part', () => {
    const world = { size: 4, nodes: 2, perNode: 2 };
    const ag = { op: 'all-gather', group: 'world', bytes: 4000 } as const;
    // Two crossing hops (1 -> 2, 3 -> 0), each passing 3 of the 4 chunks.
    expect(callInterNodeBytes(ag, world, 4)).toBe(6000);
    expect(callInterNodeBytes({ ...ag, op: 'all-reduce' }, world, 4)).toBe(12_000);
    // Each of 4 ranks sends a quarter to each of its 2 remote peers.
    expect(callInterNodeBytes({ ...ag, op: 'all-to-all' }, world, 4)).toBe(8000);
    // Inside a node nothing crosses; two column groups of 2 each cross with both parts' halves.
    expect(callInterNodeBytes(ag, { size: 2, nodes: 1, perNode: 2 }, 4)).toBe(0);
    expect(
      callInterNodeBytes({ ...ag, op: 'all-to-all' }, { size: 2, nodes: 2, perNode: 1 }, 4),
    ).toBe(8000);
  });
});
