import { afterAll, describe, expect, it } from 'vitest';
import { lossCurve, runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

const STEPS = 20;

async function losses(
  parallel: { worldSize: number; pipelineStages: number; microBatches?: number },
  batchPerRank: number,
  tied = false,
  methods: { id: string; params?: Record<string, unknown>; label?: string }[] = [],
) {
  const r = await runProfile(
    {
      name: `pp-${parallel.worldSize}-${parallel.pipelineStages}-${tied}`,
      model: { preset: 'nano', tied },
      train: { steps: STEPS, batchPerRank, lr: 3e-3, warmupSteps: 5 },
      parallel: { ...parallel, nodes: 1, sharding: 'NO_SHARD' },
      network: { intra: 'off', inter: 'off' },
      methods,
    },
    home,
  );
  expect(r.summary.status, r.summary.error).toBe('completed');
  return r;
}

function maxRelDiff(a: number[], b: number[]): number {
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]) / Math.abs(b[i])));
}

describe('pipeline x data parallel training equals single-process training', () => {
  it.each([false, true])(
    '2 stages x 2 data-parallel ranks, 2 micro-batches (tied %s): losses within 1e-4 relative over 20 steps',
    async (tied) => {
      const one = lossCurve((await losses({ worldSize: 1, pipelineStages: 1 }, 8, tied)).events);
      const pp = lossCurve(
        (await losses({ worldSize: 4, pipelineStages: 2, microBatches: 2 }, 4, tied)).events,
      );
      expect(one).toHaveLength(STEPS);
      expect(pp).toHaveLength(STEPS);
      expect(one[STEPS - 1]).toBeLessThan(one[0] * 0.9);
      expect(maxRelDiff(pp, one)).toBeLessThan(1e-4);
    },
    240_000,
  );
});
