import { describe, expect, it } from 'vitest';
import { parseFault } from '../../engine/parallel/fault.js';
import { unitSpecs } from '../../engine/model/gpt.js';
import { FlatUnit } from '../../engine/parallel/flat-unit.js';
import {
  HEALTH_DEFAULTS,
  HealthMonitor,
  MIN_SPIKE_HISTORY,
  RunningMean,
  locateNonFinite,
  skipsUpdate,
  sumSquares,
  type BadValueLocation,
  type StepFigures,
} from '../../engine/parallel/health.js';
import { nanFaultOffset, withNanFault } from '../../engine/parallel/nan-fault.js';
import { makeShardPlan } from '../../engine/parallel/shard-plan.js';
import { parseProfile } from '../../engine/run/profile.js';

/** Figures of one step: losses by rank, per-(rank, unit) sums of squares, norm from them. */
function figures(step: number, losses: number[], sq: number[][] = losses.map(() => [1])) {
  const total = sq.flat().reduce((a, b) => a + b, 0);
  return {
    step,
    losses,
    units: sq[0].length,
    unitSq: (r: number, k: number) => sq[r][k],
    gradNorm: Math.sqrt(total),
  } satisfies StepFigures;
}
const nowhere = (): BadValueLocation | undefined => undefined;

describe('RunningMean', () => {
  it('averages the last `size` values only', () => {
    const m = new RunningMean(3);
    expect(m.mean).toBeNaN();
    for (const x of [10, 1, 2, 3]) m.push(x);
    expect(m.count).toBe(3);
    expect(m.mean).toBeCloseTo(2, 12);
    m.push(7);
    expect(m.mean).toBeCloseTo(4, 12);
  });
});

describe('HealthMonitor', () => {
  it('raises nothing over a normal decreasing (noisy) loss curve', () => {
    const h = new HealthMonitor(HEALTH_DEFAULTS, 2);
    let seed = 7;
    const noise = (): number =>
      ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2;
    for (let step = 0; step < 300; step++) {
      const base = 1.5 + 2.7 * Math.exp(-step / 40);
      const found = h.check(figures(step, [base + noise(), base + noise()]), nowhere);
      expect(found, `step ${step}`).toEqual([]);
    }
  });

  it('flags NaN and Inf losses, and keeps them out of the running mean', () => {
    const h = new HealthMonitor(HEALTH_DEFAULTS, 2);
    for (let s = 0; s < 5; s++) h.check(figures(s, [4, 4]), nowhere);
    const found = h.check(figures(5, [NaN, Infinity]), nowhere);
    expect(found.map((f) => [f.kind, f.rank, f.subject, f.step])).toEqual([
      ['nan', 0, 'loss', 5],
      ['inf', 1, 'loss', 5],
    ]);
    expect(found[1].message).toBe('loss is Infinity');
    expect(skipsUpdate(found)).toBe(true);
    // The mean is still 4: 11.9 is no spike at factor 3, 12.1 is.
    expect(h.check(figures(6, [11.9, 12.1]), nowhere).map((f) => [f.kind, f.rank])).toEqual([
      ['loss-spike', 1],
    ]);
  });

  it('flags a spike above spikeFactor x the mean of the last `window` losses', () => {
    const h = new HealthMonitor({ spikeFactor: 2, window: 3, stopOnError: false }, 1);
    // High early losses leave the window: only the last 3 (1, 1, 1) count.
    for (const [s, loss] of [10, 10, 1, 1, 1].entries())
      expect(h.check(figures(s, [loss]), nowhere)).toEqual([]);
    const [spike] = h.check(figures(5, [2.5]), nowhere);
    expect(spike).toMatchObject({ kind: 'loss-spike', step: 5, rank: 0, loss: 2.5, mean: 1 });
    expect(spike.message).toMatch(/2\.5 is 2\.5x the mean 1 of the last 3 steps/);
    expect(skipsUpdate([spike])).toBe(false);
    // At exactly the factor it is not a spike (the spike entered the mean: (1 + 1 + 2.5) / 3).
    expect(h.check(figures(6, [3]), nowhere)).toEqual([]);
  });

  it(`judges spikes only once ${MIN_SPIKE_HISTORY} losses are known`, () => {
    const h = new HealthMonitor(HEALTH_DEFAULTS, 1);
    expect(h.check(figures(0, [1]), nowhere)).toEqual([]);
    expect(h.check(figures(1, [50]), nowhere)).toEqual([]);
    expect(h.check(figures(2, [1]), nowhere)).toEqual([]);
    expect(h.check(figures(3, [200]), nowhere).map((f) => f.kind)).toEqual(['loss-spike']);
  });

  it('flags a non-finite unit gradient with the layer its own rank locates', () => {
    const h = new HealthMonitor(HEALTH_DEFAULTS, 2);
    const where: BadValueLocation = { kind: 'nan', layer: 'block0 (mlp.wfc)', count: 2, of: 100 };
    const found = h.check(
      figures(
        3,
        [4, 4],
        [
          [1, 1, 1],
          [1, NaN, Infinity],
        ],
      ),
      (rank, unit) => (rank === 1 && unit === 1 ? where : undefined),
    );
    expect(found).toHaveLength(2);
    expect(found[0]).toMatchObject({
      kind: 'nan',
      step: 3,
      rank: 1,
      subject: 'gradient',
      unit: 1,
      layer: 'block0 (mlp.wfc)',
      count: 2,
    });
    expect(found[0].message).toBe(
      "NaN in the gradient of block0 (mlp.wfc): 2 of 100 values of rank 1's shard",
    );
    // Not located here (another rank's shard): the unit is known, the parameter is not.
    expect(found[1]).toMatchObject({ kind: 'inf', rank: 1, unit: 2 });
    expect(found[1].layer).toBeUndefined();
    expect(skipsUpdate(found)).toBe(true);
  });

  it('flags a zero global gradient norm once, as rank 0', () => {
    const h = new HealthMonitor(HEALTH_DEFAULTS, 3);
    const found = h.check(figures(2, [4, 4, 4], [[0], [0], [0]]), nowhere);
    expect(found.map((f) => [f.kind, f.rank, f.subject])).toEqual([
      ['zero-grad-norm', 0, 'gradient'],
    ]);
    expect(skipsUpdate(found)).toBe(false);
  });

  it('stops only with stopOnError, and validates its options', () => {
    const spike = [{ kind: 'loss-spike', step: 1, rank: 0, subject: 'loss', message: '' }] as const;
    expect(new HealthMonitor(HEALTH_DEFAULTS, 1).stops(spike)).toBe(false);
    expect(new HealthMonitor({ ...HEALTH_DEFAULTS, stopOnError: true }, 1).stops(spike)).toBe(true);
    expect(new HealthMonitor({ ...HEALTH_DEFAULTS, stopOnError: true }, 1).stops([])).toBe(false);
    expect(() => new HealthMonitor({ ...HEALTH_DEFAULTS, spikeFactor: 1 }, 1)).toThrow(
      /spikeFactor/,
    );
    expect(() => new HealthMonitor({ ...HEALTH_DEFAULTS, window: 0 }, 1)).toThrow(/window/);
  });
});

describe('locating a bad value', () => {
  const spec = unitSpecs({ vocab: 65, seqLen: 64, layers: 2, dModel: 64, heads: 4, tied: false });

  it('names the parameter segment of the first non-finite value and counts them all', () => {
    const u = new FlatUnit(spec[1], 1, makeShardPlan('FULL_SHARD', 1, 2, 1), 1);
    const named = u.segments.map((s) => ({ name: s.spec.name, offset: s.offset, size: s.size }));
    const shard = new Float32Array(u.shardSize).fill(0.5);
    expect(locateNonFinite(u.spec.name, named, shard, u.shardStart)).toBeUndefined();
    expect(sumSquares(shard)).toBeCloseTo(0.25 * u.shardSize, 6);
    // Plain reference: the segment whose [offset, offset + size) holds the flat position.
    const at = 100;
    const flat = u.shardStart + at;
    const owner = u.segments.find((s) => flat >= s.offset && flat < s.offset + s.size)!;
    shard[at] = -Infinity;
    shard[at + 5] = NaN;
    expect(sumSquares(shard)).toBeNaN();
    expect(locateNonFinite(u.spec.name, named, shard, u.shardStart)).toEqual({
      kind: 'inf',
      layer: `block0 (${owner.spec.name})`,
      count: 2,
      of: u.shardSize,
    });
  });

  it('names padding past the last parameter', () => {
    const u = new FlatUnit(spec[3], 3, makeShardPlan('FULL_SHARD', 2, 3, 1), 1);
    expect(u.padded).toBeGreaterThan(u.numel);
    const named = u.segments.map((s) => ({ name: s.spec.name, offset: s.offset, size: s.size }));
    const shard = new Float32Array(u.shardSize);
    shard[u.shardSize - 1] = NaN;
    expect(locateNonFinite(u.spec.name, named, shard, u.shardStart)?.layer).toBe('head (padding)');
  });
});

describe('the nan fault', () => {
  it('parses nan:<rank>:<step>[:<unit>] and rejects a unit on other kinds', () => {
    expect(parseFault('nan:1:3')).toEqual({ kind: 'nan', rank: 1, step: 3, unit: 1 });
    expect(parseFault('nan:0:7:2')).toEqual({ kind: 'nan', rank: 0, step: 7, unit: 2 });
    expect(parseFault('crash:1:3')).toEqual({ kind: 'crash', rank: 1, step: 3 });
    expect(() => parseFault('crash:1:3:2')).toThrow(/GRADBENCH_FAULT/);
  });

  it('puts the NaN inside the rank own parameters, and refuses a unit the model lacks', () => {
    const spec = unitSpecs({ vocab: 65, seqLen: 64, layers: 2, dModel: 64, heads: 4, tied: false });
    for (let rank = 0; rank < 3; rank++) {
      const u = new FlatUnit(spec[3], 3, makeShardPlan('FULL_SHARD', rank, 3, 1), 1);
      expect(u.shardStart + nanFaultOffset(u)).toBeLessThan(u.numel);
      expect(nanFaultOffset(u)).toBeLessThan(u.shardSize);
    }
    const reducer = { id: 'x', reduce: () => Promise.reject(new Error('unused')) };
    expect(withNanFault(reducer, undefined, 4)).toBe(reducer);
    expect(() => withNanFault(reducer, parseFault('nan:0:1:4'), 4)).toThrow(/unit 4/);
  });
});

describe('profile health options', () => {
  it('default for profiles without them, and name the field when invalid', () => {
    expect(parseProfile({ name: 'old' }).health).toEqual({
      spikeFactor: 3,
      window: 20,
      stopOnError: false,
      stallTimeoutS: 300,
    });
    expect(parseProfile({ name: 'h', health: { stopOnError: true } }).health).toEqual({
      spikeFactor: 3,
      window: 20,
      stopOnError: true,
      stallTimeoutS: 300,
    });
    expect(() => parseProfile({ name: 'bad', health: { spikeFactor: 0.5 } })).toThrow(
      /health\.spikeFactor: use a factor above 1/,
    );
    expect(() => parseProfile({ name: 'bad', health: { window: 0 } })).toThrow(/health\.window/);
    expect(() => parseProfile({ name: 'bad', health: { spike: 3 } })).toThrow(/health/);
  });
});
