/**
 * The per-step costs the projection adds to the alpha-beta links and the FSDP overlap, each
 * checked against a hand-computed timeline: decoding that runs inside the compute thread's waits,
 * comm streams that hand over a collective only once the thread has taken the last one, rank skew
 * between meeting points, the comm stack's cost per hop on the measured box, the split of a
 * method's coding into the part before and after its reduction, and uneven senders.
 */
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../engine/run/profile.js';
import { collectiveMs, sentBytes } from '../../engine/projection/cost.js';
import {
  COMM_STACK_HOP_US,
  LOOPBACK,
  measuredCluster,
  profilesFromRun,
} from '../../engine/projection/extract.js';
import { projectMethod } from '../../engine/projection/index.js';
import { predictFromProbe } from '../../engine/projection/predict.js';
import { simulateStep, type TimedUnit } from '../../engine/projection/simulate.js';
import { fakeRun } from './fake-run.js';

/** Two nodes of one rank each, 100 Mb/s between them, int8 gradients beside the baseline. */
const TWO_NODES_INT8 = {
  name: 'p',
  model: { preset: 'nano' as const },
  parallel: { worldSize: 2, nodes: 2 },
  network: { inter: { gbps: 0.1, latencyUs: 100 } },
  methods: [{ id: 'int8' }],
};

const unit = (over: Partial<TimedUnit>): TimedUnit => ({
  forwardMs: 0,
  backwardMs: 0,
  reduceMs: 0,
  ...over,
});

describe('decode inside the waits', () => {
  it('runs after its reduction, in the tail when the backward never waits', () => {
    // No gathers (NO_SHARD-like): unit 1 backward 0-10, r1 10-14; unit 0 backward 10-20, r0 is
    // held: the thread has not yet taken r1's completion. Tail: decode 1 20-23, then the stream
    // hands r0 over, 23-27; decode 0 27-30; optimizer 30-31.
    const units = [
      unit({ backwardMs: 10, reduceMs: 4, decodeMs: 3 }),
      unit({ backwardMs: 10, reduceMs: 4, decodeMs: 3 }),
    ];
    const s = simulateStep(units, 0, 1);
    expect(s.stepMs).toBeCloseTo(31, 9);
    expect(s.computeMs).toBeCloseTo(21, 9);
    // The metrics count a decode inside a wait as exposed time, and so does the projection.
    expect(s.exposedCommMs).toBeCloseTo(10, 9);
    expect(s.decodeMs).toBeCloseTo(6, 9);
    const without = simulateStep(
      units.map((u) => ({ ...u, decodeMs: 0 })),
      0,
      1,
    );
    expect(without.stepMs).toBeCloseTo(25, 9);
  });

  it('at a backward gather wait, takes completions in order up to the awaited gather', () => {
    // Backward: unit 2 (kept) 0-10, g1 on the link 0-1, r2 10-12. Unit 1 issues g0 (held: the
    // parameter stream's g1 is not taken yet), waits g1: taken at 10, g0 handed over, link
    // 12-14; unit 1 10-20; r1 held behind r2. Unit 0 waits g0: r2 (done at 12) is taken first,
    // decode 2 20-25, r1 handed over, link 25-27; then g0; unit 0 25-35; r0 held behind r1.
    // Tail: decode 1 35-40, r0 40-41.
    const s = simulateStep(
      [
        unit({ backwardMs: 10, backwardGatherMs: 2, reduceMs: 1 }),
        unit({ backwardMs: 10, backwardGatherMs: 1, reduceMs: 2, decodeMs: 5 }),
        unit({ backwardMs: 10, reduceMs: 2, decodeMs: 5 }),
      ],
      0,
      0,
    );
    expect(s.stepMs).toBeCloseTo(41, 9);
    expect(s.tailMs).toBeCloseTo(6, 9);
  });
});

describe('uneven senders', () => {
  it('a collective lasts as long as its busiest sender; the bytes sent stay the mean', () => {
    const g = { size: 2, nodes: 2, perNode: 1 };
    const link = { gbps: 0.08, latencyUs: 0 };
    const links = { intra: link, inter: link, sharedNic: true };
    const even = { op: 'all-to-all' as const, group: 'shard' as const, bytes: 200_000 };
    // 100 kB per rank at 10 kB/ms: 10 ms; one rank with 1.25x the mean sends 125 kB.
    expect(collectiveMs(even, g, links)).toBeCloseTo(10, 9);
    expect(collectiveMs({ ...even, slowest: 1.25 }, g, links)).toBeCloseTo(12.5, 9);
    expect(sentBytes({ ...even, slowest: 1.25 }, 2)).toBe(sentBytes(even, 2));
  });

  it("takes the busiest sender from the ranks' wire bytes of each step", () => {
    const { config, lines } = fakeRun(TWO_NODES_INT8, { wireBytes: 60_000, rawBytes: 220_000 });
    // Rank 1 sends 80 kB of int8 parts where rank 0 sends 40 kB: 1.33x the mean.
    const uneven = lines.map((l) =>
      l.method === 'int8' ? { ...l, wireBytes: l.rank === 1 ? 80_000 : 40_000 } : l,
    );
    const even = profilesFromRun(config, lines).profiles;
    const skewed = profilesFromRun(config, uneven).profiles;
    expect(even[1].sendImbalance).toBeUndefined();
    expect(skewed[1].sendImbalance).toBeCloseTo(80 / 60, 9);
    // The baseline's fp32 reduce-scatter is even by construction, whatever its lines say.
    expect(skewed[0].sendImbalance).toBeUndefined();
    expect(skewed[1].units[1].reduce[0].slowest).toBeCloseTo(80 / 60, 9);
    // Same mean bytes, so the same payload; a slower exchange.
    expect(skewed[1].payloadRatio).toBeCloseTo(even[1].payloadRatio, 9);
    const cluster = profilesFromRun(config, lines).cluster;
    expect(projectMethod(skewed[1], cluster).commMs).toBeGreaterThan(
      projectMethod(even[1], cluster).commMs,
    );
  });
});

describe('rank skew between meeting points', () => {
  it('a stretch of d ms costs skew x sqrt(d): the reduction starts when the slowest rank issues it', () => {
    // One unit, kept: backward 16 ms, skew 0.5 -> the slowest rank is 0.5 * 4 = 2 ms behind and
    // issues its reduction (1 ms) at 18; the step ends at 19, not 17.
    const u = [unit({ backwardMs: 16, reduceMs: 1 })];
    expect(simulateStep(u, 0, 0, 0).stepMs).toBeCloseTo(17, 9);
    const s = simulateStep(u, 0, 0, 0.5);
    expect(s.stepMs).toBeCloseTo(19, 9);
    expect(s.computeMs).toBeCloseTo(16, 9);
    expect(s.exposedCommMs).toBeCloseTo(3, 9);
  });

  it('stretches between waits add up: sum of sqrt, not sqrt of the sum', () => {
    // Two units with forward gathers of 0 ms: forward 9 + 16 ms in two stretches. Skew 1:
    // unit 1 waits at 9 for the slowest rank (9 + 3 = 12), computes 12-28; backward kept, no
    // wait; the tail meets the slowest rank at 28 + 4 = 32.
    const units = [
      unit({ forwardMs: 9, forwardGatherMs: 0 }),
      unit({ forwardMs: 16, forwardGatherMs: 0 }),
    ];
    expect(simulateStep(units, 0, 0, 1).stepMs).toBeCloseTo(32, 9);
  });

  it('a wait on communication still in flight absorbs the skew', () => {
    // Unit 1's gather (20 ms) is issued at 1 and ends at 21, later than the slowest rank's end of
    // unit 0's forward (1 + 9 + 0.5 * 3 = 11.5): same step with and without skew.
    const units = [
      unit({ forwardMs: 9, forwardGatherMs: 1 }),
      unit({ forwardMs: 0, forwardGatherMs: 20 }),
    ];
    expect(simulateStep(units, 0, 0, 0.5).stepMs).toBeCloseTo(21, 9);
    expect(simulateStep(units, 0, 0, 0).stepMs).toBeCloseTo(21, 9);
  });
});

describe("the measured box's comm stack", () => {
  it('adds its cost per hop to every tier of the measured links', () => {
    const p = parseProfile({
      name: 'p',
      model: { preset: 'nano' },
      parallel: { worldSize: 4, nodes: 2 },
      network: { intra: 'off', inter: { gbps: 0.1, latencyUs: 100 } },
    });
    const c = measuredCluster(p);
    expect(c.inter).toEqual({ gbps: 0.1, latencyUs: 100 + COMM_STACK_HOP_US });
    expect(c.intra).toEqual(LOOPBACK);
    expect(LOOPBACK.latencyUs).toBe(COMM_STACK_HOP_US);
    // An 80-byte all-reduce over 4 ranks on 2 nodes: 6 hops of (100 + 300) us, bytes negligible.
    const g = { size: 4, nodes: 2, perNode: 2 };
    const links = { intra: c.intra, inter: c.inter, sharedNic: false };
    const ms = collectiveMs({ op: 'all-reduce', group: 'world', bytes: 80 }, g, links);
    expect(ms).toBeCloseTo(6 * 0.4 + (1.5 * 80) / 12_500, 9);
  });

  it('takes the tiers as the links when they were shaped outside an unemulated transport', () => {
    const p = parseProfile({
      name: 'p',
      model: { preset: 'nano' },
      parallel: { worldSize: 2, nodes: 2 },
      network: { intra: 'off', inter: { gbps: 0.02, latencyUs: 100 }, emulate: false },
    });
    expect(measuredCluster(p).inter).toEqual(LOOPBACK);
    expect(measuredCluster(p, { shapedOutside: true }).inter).toEqual({
      gbps: 0.02,
      latencyUs: 100 + COMM_STACK_HOP_US,
    });
  });
});

describe('coding split around the reduction', () => {
  it('encode comes out of the measured compute; decode was never in it and runs after the reduction', () => {
    const { config, lines } = fakeRun(TWO_NODES_INT8, {
      encodeMs: 4,
      decodeMs: 6,
      wireBytes: 60_000,
      rawBytes: 220_000,
    });
    const run = profilesFromRun(config, lines);
    const int8 = run.profiles[1];
    const sum = (f: (u: (typeof int8.units)[number]) => number) =>
      int8.units.reduce((a, u) => a + f(u), 0);
    expect(sum((u) => u.codecMs)).toBeCloseTo(4, 9);
    expect(sum((u) => u.decodeMs ?? 0)).toBeCloseTo(6, 9);
    // 100 ms measured outside waits = units + encode + optimizer: the decode is not taken out.
    expect(sum((u) => u.forwardMs + u.backwardMs) + 4 + int8.optimizerMs).toBeCloseTo(100, 9);
    // The projected step runs the 6 ms of decode on the compute thread, inside its waits.
    const s = projectMethod(int8, run.cluster);
    expect(s.decodeMs).toBeCloseTo(6, 9);
    const noDecode = projectMethod(
      { ...int8, units: int8.units.map((u) => ({ ...u, decodeMs: 0 })) },
      run.cluster,
    );
    expect(s.stepMs - noDecode.stepMs).toBeGreaterThan(0);
    expect(s.stepMs - noDecode.stepMs).toBeLessThanOrEqual(6 + 1e-9);
  });
});

describe('the pre-run probe', () => {
  it("predicts from the ranks' mean compute and carries their skew", () => {
    const profile = parseProfile({
      name: 'p',
      model: { preset: 'nano' },
      parallel: { worldSize: 4, nodes: 2 },
      network: { inter: { gbps: 0.1, latencyUs: 100 } },
    });
    const probe = { busGbps: 0.1, allReduceBytes: 1 << 20, allReduceMs: 170, ranks: 4 };
    const fsdp = (extra: Record<string, number>) =>
      predictFromProbe(profile, { ...probe, computeMs: 120, ...extra }).methods[0];
    // Without the ranks' mean (an older probe): the slowest rank's 120 ms, no skew.
    expect(fsdp({}).computeMs).toBeCloseTo(120, 6);
    const still = fsdp({ meanComputeMs: 100, skewPerSqrtMs: 0 });
    const skewed = fsdp({ meanComputeMs: 100, skewPerSqrtMs: 2 });
    expect(still.computeMs).toBeCloseTo(100, 6);
    expect(skewed.computeMs).toBeCloseTo(100, 6);
    expect(skewed.stepMs).toBeGreaterThan(still.stepMs);
  });
});
