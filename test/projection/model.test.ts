import { describe, expect, it } from 'vitest';
import { unitSpecs } from '../../engine/model/gpt.js';
import { FlatUnit } from '../../engine/parallel/flat-unit.js';
import { baselineBytes } from '../../engine/parallel/grad-reducer.js';
import { makeShardPlan } from '../../engine/parallel/shard-plan.js';
import {
  allToAllMs,
  collectiveMs,
  hierarchicalAllReduceMs,
  ringAllGatherMs,
  ringAllReduceMs,
  ringReduceScatterMs,
  sentBytes,
} from '../../engine/projection/cost.js';
import { groupShapes } from '../../engine/projection/fsdp-plan.js';
import { simulateStep, type TimedUnit } from '../../engine/projection/simulate.js';
import {
  CLUSTER_PRESET_NAMES,
  profilesFromRun,
  projectMethod,
  projectRun,
  resolveCluster,
  type ClusterSpec,
} from '../../engine/projection/index.js';
import { fakeRun } from './fake-run.js';

// 1 Gb/s = 125 000 bytes per ms; 50 us = 0.05 ms.
const GBE = { gbps: 1, latencyUs: 50 };

describe('alpha-beta collective costs', () => {
  it('ring reduce-scatter and all-gather: (n-1) alpha + (n-1)/n bytes / beta', () => {
    // n = 4, 1 MB: 3 * 0.05 + 0.75 * 1e6 / 125000 = 0.15 + 6 = 6.15 ms.
    expect(ringReduceScatterMs(1e6, 4, GBE)).toBeCloseTo(6.15, 9);
    expect(ringAllGatherMs(1e6, 4, GBE)).toBeCloseTo(6.15, 9);
    expect(ringReduceScatterMs(1e6, 1, GBE)).toBe(0);
  });

  it('ring all-reduce: 2(n-1) alpha + 2(n-1)/n bytes / beta', () => {
    // n = 8, 8 MB over 10 Gb/s (1.25e6 B/ms), 30 us: 14 * 0.03 + 1.75 * 8e6 / 1.25e6 = 0.42 + 11.2.
    expect(ringAllReduceMs(8e6, 8, { gbps: 10, latencyUs: 30 })).toBeCloseTo(11.62, 9);
  });

  it('hierarchical all-reduce moves only 1/p of the vector across nodes', () => {
    const links = { intra: { gbps: 100, latencyUs: 0 }, inter: GBE, sharedNic: true };
    const g = { size: 8, nodes: 2, perNode: 4 };
    // intra RS and AG: 0.75 * 4e6 / 12.5e6 = 0.24 ms each; inter AR of 1e6 over 2: 2*0.05 + 1e6/125000 = 8.1 ms.
    expect(hierarchicalAllReduceMs(4e6, g, links)).toBeCloseTo(0.48 + 8.1, 9);
    // A flat ring over the same ranks is paced by the inter-node link: 2*7*0.05 + 1.75 * 4e6 / 125000.
    expect(collectiveMs({ op: 'all-reduce', group: 'world', bytes: 4e6 }, g, links)).toBeCloseTo(
      0.7 + 56,
      9,
    );
  });

  it('all-to-all: parts on their own links, or serialised through a shared NIC', () => {
    const g = { size: 4, nodes: 4, perNode: 1 };
    const perPair = { intra: GBE, inter: GBE, sharedNic: false };
    // 4 MB total: 1 MB parts; per pair: 0.05 + 1e6/125000 = 8.05 ms; shared: 0.05 + 3 * 8 = 24.05 ms.
    expect(allToAllMs(4e6, g, perPair)).toBeCloseTo(8.05, 9);
    expect(allToAllMs(4e6, g, { ...perPair, sharedNic: true })).toBeCloseTo(24.05, 9);
  });

  it('bytes sent per rank follow the bus-bandwidth factors', () => {
    expect(sentBytes({ op: 'reduce-scatter', group: 'shard', bytes: 1000 }, 4)).toBe(750);
    expect(sentBytes({ op: 'all-reduce', group: 'shard', bytes: 1000 }, 4)).toBe(1500);
  });
});

describe('FSDP overlap timeline', () => {
  const unit = (over: Partial<TimedUnit>): TimedUnit => ({
    forwardMs: 0,
    backwardMs: 0,
    reduceMs: 0,
    ...over,
  });

  it('a reduction that fits behind the next unit backward is hidden; the last one is exposed', () => {
    // Two units, no gathers. Backward: unit 1 (10 ms), its reduce (4 ms) runs behind unit 0's
    // backward (10 ms); unit 0's reduce (4 ms) has nothing to hide behind.
    const s = simulateStep(
      [unit({ backwardMs: 10, reduceMs: 4 }), unit({ backwardMs: 10, reduceMs: 4 })],
      0,
      1,
    );
    expect(s.computeMs).toBe(21);
    expect(s.exposedCommMs).toBeCloseTo(4, 9);
    expect(s.stepMs).toBeCloseTo(25, 9);
    expect(s.tailMs).toBeCloseTo(5, 9); // last reduce + optimizer
  });

  it('exposed communication is max(0, comm - compute) per overlapped pair', () => {
    // Forward prefetch: gather(1) (c ms) runs behind unit 0's forward (8 ms).
    for (const c of [2, 8, 20]) {
      const s = simulateStep(
        [unit({ forwardMs: 8, forwardGatherMs: 0 }), unit({ forwardMs: 8, forwardGatherMs: c })],
        0,
        0,
      );
      expect(s.exposedCommMs).toBeCloseTo(Math.max(0, c - 8), 9);
    }
  });

  it('the comm stream runs in issue order: a backward gather queues behind an earlier reduction', () => {
    // Backward of 3 units: gather(1) is issued first, reduce(2) after unit 2's backward, gather(0)
    // at the start of unit 1's backward queues behind reduce(2).
    const s = simulateStep(
      [
        unit({ backwardMs: 1, backwardGatherMs: 5, reduceMs: 1 }),
        unit({ backwardMs: 1, backwardGatherMs: 5, reduceMs: 1 }),
        unit({ backwardMs: 1, reduceMs: 10 }),
      ],
      0,
      0,
    );
    // t: unit2 bwd 0-1; comm: g1 0-5, r2 5-15; unit1 waits g1 (5), bwd 5-6, issues g0 at 5 ->
    // 15-20; r1 20-21; unit0 waits g0 (20), bwd 20-21, r0 21-22; step 22.
    expect(s.stepMs).toBeCloseTo(22, 9);
    expect(s.commMs).toBeCloseTo(5 + 10 + 5 + 1 + 1, 9);
  });
});

describe('profiles from a run', () => {
  for (const sharding of ['FULL_SHARD', 'SHARD_GRAD_OP', 'NO_SHARD', 'HYBRID_SHARD'] as const) {
    it(`${sharding}: the baseline's bytes per unit equal what the engine's reducer counts`, () => {
      const world = 4;
      const nodes = 2;
      const { config, lines } = fakeRun(
        { name: 'p', model: { preset: 'nano' }, parallel: { worldSize: world, nodes, sharding } },
        {},
      );
      const run = profilesFromRun(config, lines);
      const fsdp = run.profiles[0];
      const groups = groupShapes(fsdp);
      const ours = fsdp.units.reduce(
        (a, u) => a + u.reduce.reduce((b, c) => b + sentBytes(c, groups[c.group].size), 0),
        0,
      );
      const plan = makeShardPlan(sharding, 0, world, nodes);
      const specs = unitSpecs({ ...fsdp.model });
      const engine = specs.reduce(
        (a, s, i) => a + baselineBytes(new FlatUnit(s, i, plan, 1), plan),
        0,
      );
      expect(ours).toBeCloseTo(engine, 6);
    });
  }

  it('HYBRID_SHARD: a compressed method keeps the fp32 cross-node all-reduce, its payload ratio is the rest', () => {
    const layout = { world: 4, nodes: 2, sharding: 'HYBRID_SHARD' as const };
    const parallel = { worldSize: 4, nodes: 2, sharding: 'HYBRID_SHARD' as const };
    const shape = { preset: 'nano' as const };
    const probe = fakeRun({ name: 'h', model: shape, parallel, methods: [{ id: 'int8' }] }, {});
    const units = profilesFromRun(probe.config, probe.lines).profiles[0].units;
    const groups = groupShapes(layout);
    const sent = (op: string) =>
      units.reduce(
        (a, u) =>
          a +
          u.reduce
            .filter((c) => c.op === op)
            .reduce((b, c) => b + sentBytes(c, groups[c.group].size), 0),
        0,
      );
    const rs = sent('reduce-scatter');
    const ar = sent('all-reduce');
    // Wire = the fp32 all-reduce across nodes + a quarter of the in-node reduce-scatter.
    const { config, lines } = fakeRun(
      { name: 'h', model: shape, parallel, methods: [{ id: 'int8' }] },
      { wireBytes: ar + 0.25 * rs, rawBytes: ar + rs },
    );
    const int8 = profilesFromRun(config, lines).profiles[1];
    expect(int8.pattern).toBe('all-to-all');
    expect(int8.payloadRatio).toBeCloseTo(0.25, 9);
    const a2a = int8.units.flatMap((u) => u.reduce.filter((c) => c.op === 'all-to-all'));
    expect(a2a.every((c) => c.group === 'shard')).toBe(true);
    expect(
      int8.units.every((u) => u.reduce.some((c) => c.op === 'all-reduce' && c.group === 'replica')),
    ).toBe(true);
  });

  it('splits the ranks mean compute over units, their spread is the skew, the measured step kept aside', () => {
    const { config, lines } = fakeRun(
      { name: 'p', model: { preset: 'nano' }, parallel: { worldSize: 2, nodes: 2 } },
      {},
    );
    lines.filter((l) => l.rank === 1).forEach((l) => (l.computeMs = 140));
    const fsdp = profilesFromRun(config, lines).profiles[0];
    const unitMs = fsdp.units.reduce((a, u) => a + u.forwardMs + u.backwardMs + u.codecMs, 0);
    // Ranks at 100 and 140 ms: mean 120, the slowest 20 ms ahead of it over 120 ms of compute.
    expect(unitMs + fsdp.optimizerMs).toBeCloseTo(120, 6);
    expect(fsdp.skewPerSqrtMs).toBeCloseTo(20 / Math.sqrt(120), 9);
    expect(fsdp.measured?.stepMs).toBe(150);
    const blocks = fsdp.units.filter((u) => u.kind === 'block');
    expect(blocks[0].backwardMs).toBeCloseTo(3 * blocks[0].forwardMs, 9);
  });

  it('projects onto every preset, bigger and faster clusters give faster steps than this box', () => {
    const { config, lines } = fakeRun(
      {
        name: 'p',
        model: { preset: 'nano' },
        parallel: { worldSize: 2, nodes: 2 },
        methods: [{ id: 'int8' }],
      },
      { wireBytes: 60_000, rawBytes: 220_000 },
    );
    const run = profilesFromRun(config, lines);
    for (const name of CLUSTER_PRESET_NAMES) {
      const r = projectRun(run, name);
      expect(r.methods.map((m) => m.method)).toEqual(['fsdp', 'int8']);
      for (const m of r.methods) {
        expect(m.stepMs).toBeGreaterThan(0);
        expect(m.stepMs).toBeLessThan(150);
        expect(m.speedupVsBf16).toBeGreaterThan(0);
      }
    }
    // A 1.5 B model on 32 A100s: compute from FLOPs (6 N tokens order of magnitude, 8 N with recompute).
    const big: ClusterSpec = resolveCluster({
      nodes: 4,
      gpusPerNode: 8,
      gpu: { tflops: 312, efficiency: 0.5 },
      inter: 'IB200',
      model: 'gpt2-1.5b',
      batchPerGpu: 8,
    });
    const step = projectMethod(run.profiles[0], big);
    const tokens = 8 * 1024;
    const n = 1.5e9;
    const lower = (6 * n * tokens) / (312e12 * 0.5);
    expect(step.computeMs / 1000).toBeGreaterThan(lower);
    expect(step.computeMs / 1000).toBeLessThan(2 * lower);
  });
});

describe('cluster descriptions', () => {
  it('names every invalid field and the presets', () => {
    expect(() =>
      resolveCluster({ nodes: 0, gpusPerNode: 8, inter: 'fast', gpu: { tflops: -1 } }),
    ).toThrow(/nodes:[\s\S]*gpu\.tflops[\s\S]*inter: use a link preset/);
    expect(() => resolveCluster('nope')).toThrow(/dgx-a100-ib200/);
    const c = resolveCluster('8x-rtx4090-25gbe');
    expect(c.inter).toEqual({ gbps: 25, latencyUs: 20 });
    expect(c.sharedNic).toBe(true);
  });
});
