import { describe, expect, it } from 'vitest';
import { stepsCsv } from '../../engine/app/csv.js';
import { checkProfile, type ProfileInput } from '../../engine/run/profile.js';
import { summarizeMethod } from '../../engine/run/summary.js';
import { resolveCluster } from '../../engine/run/cluster.js';
import { resolveTargetNetwork, targetComputeMs } from '../../engine/projection/emulate-target.js';
import { metric } from '../app/fixtures.js';
import { parseCsv } from '../app/helpers.js';

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
    expect(
      issues(pipeline({ methods: [{ id: 'optimus-cc', params: { int8Transfers: 'yes' } }] }))[
        'methods.0.params.int8Transfers'
      ],
    ).toMatch(/on or off/);
  });

  it('a pipeline run may name a target cluster: every tier slowed by the compute ratio', async () => {
    const cluster = {
      name: 'two-gpus',
      nodes: 2,
      gpusPerNode: 1,
      gpu: { tflops: 100, efficiency: 0.001 },
      inter: { gbps: 1, latencyUs: 50 },
    };
    const r = checkProfile(
      pipeline({
        methods: [{ id: 'optimus-cc', params: { int8Transfers: true } }],
        network: { intra: 'off', inter: 'off', target: { cluster } },
      }),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const target = targetComputeMs(r.profile, resolveCluster(cluster, 'c'));
    // This box "computes" 40x slower than the cluster: every link 40x slower, latency 40x longer.
    const probe = async () => ({
      computeMs: 40 * target,
      busGbps: 0,
      allReduceBytes: 0,
      allReduceMs: 0,
      ranks: 4,
    });
    const { profile, emulation } = await resolveTargetNetwork(r.profile, probe);
    expect(emulation?.scale).toBeCloseTo(40, 9);
    expect(profile.network.inter).toEqual({ gbps: 1 / 40, latencyUs: 50 * 40 });
    expect(profile.parallel.pipelineStages).toBe(2);
  });
});

describe('pipeline metrics in summaries and CSV', () => {
  const lines = [0, 1, 2].flatMap((step) =>
    [0, 1].map((rank) =>
      metric({
        method: 'optimus-cc',
        step,
        rank,
        bubbleMs: rank === 0 ? 4 : 2,
        interStageBytes: rank === 0 ? 1000 : 300,
        interStageRawBytes: 1000,
      }),
    ),
  );

  it('summaries carry the mean bubble and the inter-stage bytes of all ranks per step', () => {
    const s = summarizeMethod(
      { id: 'optimus-cc', label: 'Optimus-CC', params: {} },
      lines,
      'completed',
    );
    expect(s.meanBubbleMs).toBe(3);
    expect(s.interStageBytesPerStep).toBe(1300);
    expect(s.interStageRawBytesPerStep).toBe(2000);
    const plain = summarizeMethod(
      { id: 'fsdp', label: 'FSDP', params: {} },
      [metric({ method: 'fsdp', step: 0, rank: 0 })],
      'completed',
    );
    expect(plain.meanBubbleMs).toBeUndefined();
  });

  it('per-step CSV rows end with bubbleMs (mean) and interStageBytes (sum), empty for FSDP runs', () => {
    const rows = parseCsv(stepsCsv([...lines, metric({ method: 'fsdp', step: 0, rank: 0 })]));
    const header = rows[0];
    const col = (name: string) => header.indexOf(name);
    const pp = rows.find((r) => r[col('method')] === 'optimus-cc')!;
    expect(pp[col('bubbleMs')]).toBe('3');
    expect(pp[col('interStageBytes')]).toBe('1300');
    const fsdp = rows.find((r) => r[col('method')] === 'fsdp')!;
    expect(fsdp[col('bubbleMs')]).toBe('');
    expect(fsdp[col('interStageBytes')]).toBe('');
  });
});
