import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MetricLineSchema, RunSummarySchema, type MetricLine } from '../../engine/run/metrics.js';
import { pidAlive } from '../../engine/launch/local-ranks.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

/**
 * Where nan:1:3 puts its NaN: unit 1 (block0) of the nano model (dModel 64) holds, in order,
 * ln1.g/b 64+64, attn.wqkv 12288, attn.bqkv 192, attn.wproj 4096, attn.bproj 64, ln2.g/b 64+64,
 * mlp.wfc 16384, mlp.bfc 256, mlp.wproj 16384, mlp.bproj 64 = 49984 values; rank 1 of 2 owns
 * [24992, 49984) and the fault takes the middle, 37488, inside mlp.wproj [33536, 49920).
 */
const LAYER = 'block0 (mlp.wproj)';

const nano = (name: string, steps: number, stopOnError = false) => ({
  name,
  model: { preset: 'nano' as const },
  train: { steps, batchPerRank: 2, warmupSteps: 1 },
  parallel: { worldSize: 2 },
  health: { stopOnError },
});

function metrics(dir: string): MetricLine[] {
  return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => MetricLineSchema.parse(JSON.parse(l)));
}

const summaryOf = (dir: string) =>
  RunSummarySchema.parse(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')));

describe('numerical health with real ranks (nano, 2 ranks)', () => {
  it('a method forced to emit NaN is flagged at that step, rank and layer; the update is skipped', async () => {
    const r = await runProfile({ ...nano('nan-warn', 5), methods: [{ id: 'int8' }] }, home, {
      env: { GRADBENCH_FAULT: 'nan:1:3' },
    });
    expect(r.summary.status, r.summary.error).toBe('completed');
    const lines = metrics(r.dir);
    for (const method of ['fsdp', 'int8']) {
      const mine = lines.filter((l) => l.method === method);
      expect(mine).toHaveLength(10);
      const warned = mine.filter((l) => l.warnings?.length);
      expect(warned.map((l) => [l.step, l.rank])).toEqual([[3, 1]]);
      expect(warned[0].warnings).toEqual([
        expect.objectContaining({
          method,
          step: 3,
          rank: 1,
          kind: 'nan',
          subject: 'gradient',
          unit: 1,
          layer: LAYER,
          count: 1,
        }),
      ]);
      // Every rank skipped step 3's update, so the weights stayed finite: later losses are too.
      // Ranks append their lines concurrently: compare as a set, not in arrival order.
      expect(
        mine
          .filter((l) => l.skipped)
          .map((l) => [l.step, l.rank])
          .sort((a, b) => a[0] - b[0] || a[1] - b[1]),
      ).toEqual([
        [3, 0],
        [3, 1],
      ]);
      expect(mine.filter((l) => l.step === 3).every((l) => l.gradNorm === undefined)).toBe(true);
      expect(mine.filter((l) => l.step === 4).every((l) => Number.isFinite(l.loss))).toBe(true);
    }
    const health = r.events.filter((e) => e.type === 'health');
    expect(health).toHaveLength(2);
    const saved = summaryOf(r.dir);
    expect(saved.methods.map((m) => [m.method, m.healthWarnings])).toEqual([
      ['fsdp', 1],
      ['int8', 1],
    ]);
    expect(readFileSync(path.join(r.dir, 'ranks', '1.log'), 'utf8')).toMatch(
      /injected fault "nan" in unit 1 at step 3/,
    );
  });

  it('with health.stopOnError the run ends failed with that warning and no process left', async () => {
    const r = await runProfile(nano('nan-stop', 30, true), home, {
      env: { GRADBENCH_FAULT: 'nan:1:3' },
    });
    expect(r.summary.status).toBe('failed');
    expect(r.summary.error).toBe(
      `stopped by the health check (health.stopOnError): fsdp step 4 rank 1: NaN in the gradient of ${LAYER}: 1 of 24992 values of rank 1's shard`,
    );
    expect(r.summary.methods[0]).toMatchObject({ status: 'failed', steps: 4, healthWarnings: 1 });
    expect(summaryOf(r.dir).status).toBe('failed');
    const exits = r.events.filter((e) => e.type === 'rank-exit');
    expect(exits.map((e) => e.code)).toEqual([3, 3]);
    const end = Date.now() + 3000;
    while (r.pids.some(pidAlive) && Date.now() < end) await new Promise((w) => setTimeout(w, 50));
    expect(r.pids.filter(pidAlive)).toEqual([]);
  });

  it('the CLI prints each warning on its own line', async () => {
    const profile = path.join(home, 'cli-nan.json');
    writeFileSync(profile, JSON.stringify(nano('cli-nan', 3)));
    const out = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [path.join(packageRoot, 'bin', 'gradbench.js'), 'run', profile, '--home', home],
        { env: { ...process.env, GRADBENCH_FAULT: 'nan:0:1:2' } },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr.split('\n')).toContainEqual(
      expect.stringMatching(
        /^\[1\/1\] .*  health: fsdp step 2 rank 0: NaN in the gradient of block1 \(attn\.bqkv\): 1 of \d+ values of rank 0's shard$/,
      ),
    );
    expect(readdirSync(path.join(home, 'runs')).length).toBeGreaterThan(0);
  });
});
