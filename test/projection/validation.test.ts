/**
 * The projection against real ranks on an emulated link: predicted from the run's own compute
 * measurements (never its step times), compared with the measured mean step time over timed
 * steps. The link is slow enough that communication is a large part of every step.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseProfile } from '../../engine/run/profile.js';
import { projectRun, readRunProfiles } from '../../engine/projection/index.js';
import { probeProfile } from '../../engine/projection/probe.js';
import { runProfile, tempHome } from '../helpers/runs.js';

const TOLERANCE = 0.15;

describe('projection vs measured emulated-link runs', () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);

  it('predicts every method of a nano run at 30 Mb/s between 2 nodes within 15 %', async () => {
    const { summary, dir } = await runProfile(
      {
        name: 'projection-check',
        model: { preset: 'nano' },
        train: { steps: 8, batchPerRank: 8 },
        parallel: { worldSize: 2, nodes: 2, sharding: 'FULL_SHARD' },
        network: { intra: 'off', inter: { gbps: 0.03, latencyUs: 100 } },
        methods: [{ id: 'bf16' }, { id: 'int8' }],
        backend: 'auto',
      },
      home,
    );
    expect(summary.status).toBe('completed');
    const projection = projectRun(await readRunProfiles(dir));
    const rows = projection.methods.map((m) => ({
      method: m.method,
      predicted: m.stepMs,
      measured: m.measured!.stepMs,
      error: m.errorVsMeasured!,
    }));
    // Reported for the record: the error per method on this box.
    console.log(JSON.stringify(rows));
    expect(rows.map((r) => r.method)).toEqual(['fsdp', 'bf16', 'int8']);
    for (const r of rows)
      expect(Math.abs(r.error), `${r.method}: ${JSON.stringify(r)}`).toBeLessThan(TOLERANCE);
  });

  it('probes compute and the link through the real comm layer before a run', async () => {
    const probe = await probeProfile(
      parseProfile({
        name: 'probe-check',
        model: { preset: 'nano' },
        parallel: { worldSize: 2, nodes: 2 },
        network: { inter: { gbps: 0.05, latencyUs: 100 } },
      }),
      { emulateLink: true },
    );
    expect(probe.ranks).toBe(2);
    expect(probe.computeMs).toBeGreaterThan(0);
    // The emulator paces the link exactly; a loaded box may only lose some of it.
    expect(probe.busGbps).toBeGreaterThan(0.6 * 0.05);
    expect(probe.busGbps).toBeLessThan(1.05 * 0.05);
  });
});
