import { afterAll, describe, expect, it } from 'vitest';
import type { MethodSummary } from '../../engine/run/metrics.js';
import type { ProfileInput } from '../../engine/run/profile.js';
import { runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

/** Runs `profile` and returns its summaries by key, after checking the run completed. */
async function run(profile: ProfileInput): Promise<Map<string, MethodSummary>> {
  const r = await runProfile(profile, home);
  expect(r.summary.status, r.summary.error).toBe('completed');
  return new Map(r.summary.methods.map((m) => [m.method, m]));
}

/** Final loss within `tol` of fp32 FSDP's, every step finite, gathers as small as their format says. */
function expectBounded(by: Map<string, MethodSummary>, key: string, tol: number, ratio: number) {
  const base = by.get('fsdp')!;
  const m = by.get(key)!;
  expect(m.status, key).toBe('completed');
  expect(m.healthWarnings, key).toBe(0);
  expect(Math.abs(m.finalLoss - base.finalLoss) / base.finalLoss, key).toBeLessThan(tol);
  expect(m.paramWireBytesPerStep! / base.paramWireBytesPerStep!, key).toBeCloseTo(ratio, 2);
  expect(m.paramRawBytesPerStep, key).toBe(base.paramRawBytesPerStep);
}

const nano = {
  model: { preset: 'nano' },
  train: { steps: 8, batchPerRank: 4, lr: 6e-3, warmupSteps: 2 },
} as const;

describe('parameter gathers in bf16 and int8 with real ranks', () => {
  it('FULL_SHARD: bf16 and int8 gathers with bf16, TAGC and PowerSGD gradients train like fp32 FSDP', async () => {
    const by = await run({
      name: 'param-comm-full',
      ...nano,
      parallel: { worldSize: 2, nodes: 2, sharding: 'FULL_SHARD' },
      baselines: ['fsdp', 'bf16-mp'],
      methods: [
        { id: 'tagc', paramComm: 'int8' },
        { id: 'powersgd', paramComm: 'bf16' },
        { id: 'fsdp', hpz: true },
      ],
    });
    expect([...by.keys()]).toEqual(['fsdp', 'bf16-mp', 'tagc+int8', 'powersgd+bf16', 'fsdp+hpz']);
    // hpZ with one rank per node: backward reuses forward's parameters, so training is unchanged
    // while no backward gather crosses nodes; the secondary shards are whole regathered units.
    const hpz = by.get('fsdp+hpz')!;
    const base = by.get('fsdp')!;
    expect(hpz.finalLoss).toBeCloseTo(base.finalLoss, 5);
    expect(hpz.paramWireBytesPerStep! / base.paramWireBytesPerStep!).toBeLessThan(0.6);
    expect(hpz.secondaryBytesPerRank).toBeGreaterThan(0);
    expectBounded(by, 'bf16-mp', 0.03, 0.5);
    expectBounded(by, 'tagc+int8', 0.05, (1 + 4 / 256) / 4);
    expectBounded(by, 'powersgd+bf16', 0.1, 0.5);
    expect(by.get('tagc+int8')!.speedupVsBf16).toBeGreaterThan(0);
  }, 240_000);

  it('2 nodes x 2: qgZ gradients with int8 gathers and hpZ (backward gathers inside the node) train like fp32 FSDP', async () => {
    const by = await run({
      name: 'param-comm-zeropp',
      ...nano,
      parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
      methods: [{ id: 'qgz', paramComm: 'int8', hpz: true }],
    });
    const m = by.get('qgz+int8+hpz')!;
    const base = by.get('fsdp')!;
    expect(m.status).toBe('completed');
    expect(m.healthWarnings).toBe(0);
    expect(Math.abs(m.finalLoss - base.finalLoss) / base.finalLoss).toBeLessThan(0.05);
    // Forward gathers are int8 over the world, backward ones fp32 inside the node.
    expect(m.paramWireBytesPerStep!).toBeLessThan(0.7 * base.paramWireBytesPerStep!);
    // qgZ sends int8 (a quarter of fp32) plus scales, in two hops: under half the fp32 reduction.
    expect(m.wireBytesPerStep).toBeLessThan(0.5 * base.wireBytesPerStep);
    // Secondary shards: half of every regathered unit (two ranks per node).
    expect(m.secondaryBytesPerRank).toBeGreaterThan(0);
  }, 240_000);
});
