import { afterAll, describe, expect, it } from 'vitest';
import { readRunProfiles } from '../../engine/projection/extract.js';
import { projectedInterNodeBytes } from '../../engine/projection/inter-node.js';
import { runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

describe('bytes crossing nodes with real ranks, 2 nodes x 2 ranks', () => {
  it('the links count what the projection lays out for every parameter and gradient option, and qgZ or TAGC with int8 + hpZ sends under 0.3x of fp32 FSDP across nodes', async () => {
    const r = await runProfile(
      {
        name: 'inter-node-bytes',
        model: { preset: 'nano' },
        train: { steps: 4, batchPerRank: 2, lr: 6e-3, warmupSteps: 1 },
        parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
        baselines: ['fsdp', 'bf16-mp'],
        methods: [
          { id: 'fsdp', paramComm: 'int8', hpz: true },
          { id: 'tagc', paramComm: 'int8', hpz: true },
          { id: 'tagc', params: { byNode: false } },
          { id: 'qgz', paramComm: 'int8', hpz: true },
          { id: 'qgz', params: { bits: 4 }, paramComm: 'bf16' },
        ],
      },
      home,
    );
    expect(r.summary.status, r.summary.error).toBe('completed');
    const measured = new Map(r.summary.methods.map((m) => [m.method, m.interNodeBytesPerStep!]));
    const run = await readRunProfiles(r.dir);
    expect(run.profiles.map((p) => p.method)).toEqual([...measured.keys()]);
    for (const p of run.profiles) {
      const m = measured.get(p.method)!;
      expect(m, p.method).toBeGreaterThan(0);
      // Bytes are deterministic; the links add frame headers the projection leaves out.
      expect(Math.abs(projectedInterNodeBytes(p) - m) / m, p.method).toBeLessThan(0.02);
    }
    const fsdp = measured.get('fsdp')!;
    expect(measured.get('bf16-mp')! / fsdp).toBeCloseTo(0.5, 2);
    expect(measured.get('qgz+int8+hpz')! / fsdp).toBeLessThan(0.3);
    expect(measured.get('tagc+int8+hpz')! / fsdp).toBeLessThan(0.3);
  }, 600_000);
});
