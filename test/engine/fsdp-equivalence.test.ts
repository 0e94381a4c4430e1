import { afterAll, describe, expect, it } from 'vitest';
import { lossCurve, runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

const STEPS = 20;
const base = {
  model: { preset: 'nano' as const },
  train: { steps: STEPS, lr: 3e-3, warmupSteps: 5 },
  network: { intra: 'off', inter: 'off' },
};

async function losses(
  world: number,
  batchPerRank: number,
  sharding: string,
  nodes = 1,
  tied = false,
): Promise<number[]> {
  const r = await runProfile(
    {
      ...base,
      name: `eq-${world}-${sharding}`,
      model: { preset: 'nano', tied },
      train: { ...base.train, batchPerRank },
      parallel: { worldSize: world, nodes, sharding: sharding as 'FULL_SHARD' },
    },
    home,
  );
  expect(r.summary.status, r.summary.error).toBe('completed');
  const curve = lossCurve(r.events);
  expect(curve).toHaveLength(STEPS);
  return curve;
}

function maxRelDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
}

describe('sharded training equals single-process training (same model, seed and global batch)', () => {
  let reference: number[] = [];

  it('world 1 trains and its loss falls', async () => {
    reference = await losses(1, 8, 'FULL_SHARD');
    expect(reference[STEPS - 1]).toBeLessThan(reference[0] * 0.85);
  });

  it.each([
    ['FULL_SHARD', 1],
    ['SHARD_GRAD_OP', 1],
    ['NO_SHARD', 1],
    ['HYBRID_SHARD', 2],
  ] as const)(
    'world 4 %s (nodes %i): losses within 1e-4 relative over 20 steps',
    async (sharding, nodes) => {
      const curve = await losses(4, 2, sharding, nodes);
      expect(maxRelDiff(curve, reference)).toBeLessThan(1e-4);
    },
  );

  it('tied embeddings: world 4 FULL_SHARD equals world 1', async () => {
    const one = await losses(1, 8, 'FULL_SHARD', 1, true);
    const four = await losses(4, 2, 'FULL_SHARD', 1, true);
    expect(maxRelDiff(four, one)).toBeLessThan(1e-4);
    expect(maxRelDiff(one, reference)).toBeGreaterThan(1e-3); // tying really changes the model
  });
});
