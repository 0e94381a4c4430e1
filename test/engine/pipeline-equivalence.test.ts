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
  // Tied embeddings exercise every path of the exact pipeline: activations forward, gradients
  // back, the embedding copy's gradient exchanged between the end stages, data-parallel averaging.
  it('2 stages x 2 data-parallel ranks, 2 micro-batches, tied embeddings: losses within 1e-4 relative over 20 steps', async () => {
    const one = lossCurve((await losses({ worldSize: 1, pipelineStages: 1 }, 8, true)).events);
    const pp = lossCurve(
      (await losses({ worldSize: 4, pipelineStages: 2, microBatches: 2 }, 4, true)).events,
    );
    expect(one).toHaveLength(STEPS);
    expect(pp).toHaveLength(STEPS);
    expect(one[STEPS - 1]).toBeLessThan(one[0] * 0.9);
    expect(maxRelDiff(pp, one)).toBeLessThan(1e-4);
  }, 240_000);
});

describe('Optimus-CC on real ranks', () => {
  it('sends exactly the low-rank bytes on the critical-path transfers and keeps training on track', async () => {
    const M = 4;
    const r = await losses({ worldSize: 2, pipelineStages: 2, microBatches: M }, 8, true, [
      { id: 'optimus-cc', params: { rank: 4 } },
    ]);
    const [base, occ] = r.summary.methods;
    expect(occ.status, occ.error).toBe('completed');
    // nano: 2 rows x 64 positions per micro-batch, dModel 64. Critical path of 1F1B with 2
    // stages and 4 micro-batches: the gradients of micro-batches 0, 1 and 3.
    const rows = 2 * 64;
    const exact = rows * 64 * 4;
    const factors = 4 * (rows + 64) * 4;
    expect(base.interStageBytesPerStep).toBe(2 * M * exact);
    expect(occ.interStageBytesPerStep).toBe(M * exact + 3 * factors + exact);
    expect(occ.interStageRawBytesPerStep).toBe(2 * M * exact);
    // The fused, compressed embedding sync and compressed backprop still train the model.
    const curve = lossCurve(r.events, occ.method);
    expect(curve).toHaveLength(STEPS);
    expect(curve[STEPS - 1]).toBeLessThan(curve[0] * 0.9);
    expect(Math.abs(occ.finalLoss - base.finalLoss) / base.finalLoss).toBeLessThan(0.05);
  }, 240_000);
});
