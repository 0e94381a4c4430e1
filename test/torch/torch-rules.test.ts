/** The PyTorch engine's profile rules, refusals and rank-exit reading: no Python needed. */
import { describe, expect, it } from 'vitest';
import { checkProfile } from '../../engine/run/profile.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { torchRefusal } from '../../engine/torch/readiness.js';
import { rankExits, reportedExits } from '../../engine/torch/torchrun.js';
import type { TorchProbe } from '../../engine/app/api.js';

const base = {
  name: 'p',
  engine: 'pytorch',
  parallel: { worldSize: 2, nodes: 1, sharding: 'NO_SHARD' },
};

describe('PyTorch profile rules', () => {
  it('accepts the hooks it has and names the DDP baseline', () => {
    const r = checkProfile({ ...base, methods: [{ id: 'int8' }, { id: 'topk' }] });
    expect(r.ok).toBe(true);
    if (r.ok) expect(resolveMethods(r.profile)[0].label).toBe('DDP (fp32)');
  });

  it('refuses FSDP sharding on the sharding field, with the choice that works', () => {
    const r = checkProfile({ ...base, parallel: { ...base.parallel, sharding: 'FULL_SHARD' } });
    expect(r.ok ? [] : r.issues).toContainEqual({
      path: 'parallel.sharding',
      message: expect.stringMatching(/DDP.*choose NO_SHARD/),
    });
  });

  it('refuses methods without a hook, pipelines, several nodes and emulated links', () => {
    const r = checkProfile({
      ...base,
      parallel: { worldSize: 4, nodes: 2, sharding: 'NO_SHARD', pipelineStages: 1 },
      network: { intra: 'off', inter: '1GbE' },
      methods: [{ id: 'tagc' }, { id: 'int8', params: { scale: 'agreed' } }],
    });
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'parallel.nodes',
        'network.emulate',
        'methods.0.id',
        'methods.1.params.scale',
      ]),
    );
  });
});

describe('refusals before start', () => {
  const probe: TorchProbe = {
    available: true,
    options: [
      { id: 'ddp', name: 'DDP', available: true },
      { id: 'zero', name: 'ZeRO', available: true },
      { id: 'fsdp', name: 'FSDP', available: false, reason: 'needs CUDA' },
    ],
  };
  it('FSDP shardings carry the probe reason; DDP runs', () => {
    expect(torchRefusal({ parallel: { sharding: 'FULL_SHARD' } }, probe)).toMatch(
      /FULL_SHARD needs PyTorch FSDP.*needs CUDA.*NO_SHARD/,
    );
    expect(torchRefusal({ parallel: { sharding: 'NO_SHARD' } }, probe)).toBeUndefined();
    expect(
      torchRefusal(
        { parallel: { sharding: 'NO_SHARD' } },
        { available: false, reason: 'no python3 with torch', options: [] },
      ),
    ).toMatch(/unavailable: no python3 with torch/);
  });
});

describe("reading torchrun's end", () => {
  const report = [
    'Root Cause (first observed failure):',
    '[0]:',
    '  rank      : 1 (local_rank: 1)',
    '  exitcode  : -9 (pid: 4242)',
    'Failures:',
    '  rank      : 0 (local_rank: 0)',
    '  exitcode  : 3 (pid: 4241)',
  ];
  it('names the killed rank first, before the rank that lost its peer', () => {
    const exits = rankExits(
      [
        { done: false, commFailed: true },
        { done: false, commFailed: false },
      ],
      reportedExits(report),
      { code: 1, signal: null },
    );
    expect(exits).toEqual([
      { rank: 1, exit: { code: null, signal: 'SIGKILL' }, order: 0 },
      { rank: 0, exit: { code: 3, signal: null }, order: 2 },
    ]);
  });
  it('finished ranks exit 0', () => {
    const exits = rankExits([{ done: true, commFailed: false }], new Map(), {
      code: 0,
      signal: null,
    });
    expect(exits[0].exit).toEqual({ code: 0, signal: null });
  });
});
