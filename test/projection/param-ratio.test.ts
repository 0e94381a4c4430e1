import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../engine/run/profile.js';
import { createParamCodec, paramCommRatio } from '../../engine/compress/param-codec.js';
import { unitCollectives } from '../../engine/projection/fsdp-plan.js';
import { callInterNodeBytes } from '../../engine/projection/inter-node.js';
import { resolveCluster } from '../../engine/run/cluster.js';
import { resolveTargetNetwork, targetComputeMs } from '../../engine/projection/emulate-target.js';
import { profilesFromRun } from '../../engine/projection/extract.js';
import { projectRun } from '../../engine/projection/index.js';
import { predictFromProbe } from '../../engine/projection/predict.js';
import { fakeRun } from './fake-run.js';

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

describe('hpZ, qgZ and parameter formats on a 2-node GPU cluster', () => {
  const input = {
    name: 'zeropp',
    model: { preset: 'nano' },
    parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
    network: { target: { cluster: '2x2-a100-1gbe-small-gpt' } },
    methods: [
      { id: 'fsdp', paramComm: 'int8' },
      { id: 'fsdp', paramComm: 'int8', hpz: true },
      { id: 'qgz', paramComm: 'int8', hpz: true },
    ],
  } as const;

  it('ratio-preserving emulation slows both tiers: hpZ and qgZ traffic inside a node runs on the intra one', async () => {
    const profile = parseProfile(input);
    const c = resolveCluster('2x2-a100-1gbe-small-gpt');
    const target = targetComputeMs(profile, c);
    const r = await resolveTargetNetwork(profile, async () => ({
      computeMs: 200 * target,
      busGbps: 0,
      allReduceBytes: 0,
      allReduceMs: 0,
      ranks: 4,
    }));
    expect(r.profile.network.intra).toEqual({ gbps: 252 / 200, latencyUs: 5 * 200 });
    expect(r.profile.network.inter).toEqual({ gbps: 1 / 200, latencyUs: 50 * 200 });
  });

  it('the projection keeps hpZ backward gathers on the node link and prices qgZ at its bytes', () => {
    const { config, lines } = fakeRun(input, { wireBytes: 60_000, rawBytes: 220_000 });
    const r = projectRun(profilesFromRun(config, lines), '2x2-a100-1gbe-small-gpt');
    const [fsdp, int8, hpz, qgz] = r.methods;
    expect(r.methods.map((m) => m.method)).toEqual([
      'fsdp',
      'fsdp+int8',
      'fsdp+int8+hpz',
      'qgz+int8+hpz',
    ]);
    expect(int8.stepMs).toBeLessThan(fsdp.stepMs);
    expect(hpz.stepMs).toBeLessThan(int8.stepMs);
    expect(qgz.stepMs).toBeLessThan(hpz.stepMs);
  });

  it('a prediction before the run resizes parameter gathers by their format', () => {
    const profile = parseProfile({ ...input, network: { inter: { gbps: 0.05, latencyUs: 100 } } });
    const p = predictFromProbe(profile, {
      computeMs: 100,
      busGbps: 0.05,
      allReduceBytes: 1 << 20,
      allReduceMs: 300,
      ranks: 4,
    });
    // qgZ runs its own rounds: no standalone payload to time before the run.
    expect(p.skipped).toEqual(['qgz+int8+hpz']);
    const [fsdp, int8, hpz] = p.methods;
    expect(int8.speedupVsFsdp).toBeGreaterThan(1.2);
    expect(hpz.stepMs).toBeLessThan(int8.stepMs);
    expect(fsdp.speedupVsFsdp).toBe(1);
  });
});
