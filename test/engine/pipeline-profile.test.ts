import { describe, expect, it } from 'vitest';
import { checkProfile, type ProfileInput } from '../../engine/app/profile.js';

const pipeline = (over: Partial<ProfileInput> = {}, parallel: Record<string, unknown> = {}) => ({
  name: 'pp',
  model: { preset: 'nano' as const, tied: true },
  train: { steps: 5, batchPerRank: 8 },
  parallel: {
    worldSize: 4,
    nodes: 1,
    sharding: 'NO_SHARD' as const,
    pipelineStages: 2,
    ...parallel,
  },
  ...over,
});

function issues(input: unknown): Record<string, string> {
  const r = checkProfile(input);
  return r.ok ? {} : Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
}

describe('pipeline profiles', () => {
  it('accepts 2 stages x 2 data-parallel ranks with Optimus-CC and fills its defaults', () => {
    const r = checkProfile(pipeline({ methods: [{ id: 'optimus-cc' }] }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.profile.methods[0].params).toEqual({});
  });

  it('names the field and the fix for impossible layouts', () => {
    expect(
      issues(pipeline({}, { worldSize: 6, pipelineStages: 4 }))['parallel.pipelineStages'],
    ).toMatch(/worldSize \(6\) must be divisible by pipelineStages \(4\)/);
    // nano: embedding, 2 blocks, head = 4 units.
    expect(
      issues(pipeline({}, { worldSize: 5, pipelineStages: 5 }))['parallel.pipelineStages'],
    ).toMatch(/exceeds the model's 4 units .*use at most 4/);
    expect(issues(pipeline({}, { sharding: 'FULL_SHARD' }))['parallel.sharding']).toMatch(
      /NO_SHARD/,
    );
    expect(issues(pipeline({}, { microBatches: 3 }))['parallel.microBatches']).toMatch(
      /batchPerRank \(8\) must be divisible by the micro-batch count \(3\)/,
    );
    expect(
      issues(pipeline({ train: { steps: 5, batchPerRank: 6 } }))['parallel.microBatches'],
    ).toMatch(/\(4, the default 2 x pipelineStages\)/);
  });

  it('keeps Optimus-CC to pipelines and the other methods to FSDP', () => {
    expect(issues(pipeline({ methods: [{ id: 'topk' }] }))['methods.0.id']).toMatch(
      /use "optimus-cc"/,
    );
    expect(
      issues({ ...pipeline({}, { pipelineStages: 1 }), methods: [{ id: 'optimus-cc' }] })[
        'methods.0.id'
      ],
    ).toMatch(/set parallel.pipelineStages to 2 or more/);
    expect(
      issues(pipeline({ methods: [{ id: 'optimus-cc', params: { rank: 0 } }] }))[
        'methods.0.params.rank'
      ],
    ).toBeDefined();
  });
});
