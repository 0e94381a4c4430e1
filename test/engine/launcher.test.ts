import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { pidAlive } from '../../engine/launch/local-ranks.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { lossCurve, runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);
const run = promisify(execFile);
const cli = path.join(packageRoot, 'bin', 'gradbench.js');

async function noneAlive(pids: number[]): Promise<void> {
  const end = Date.now() + 3000;
  while (pids.some(pidAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(pids.filter(pidAlive)).toEqual([]);
}

describe('launcher', () => {
  it('a crashed rank fails the run within 5 s with its last log lines, and leaves no process', async () => {
    let crashSeenAt = 0;
    const r = await runProfile(
      {
        name: 'crash',
        model: { preset: 'nano' },
        train: { steps: 30, batchPerRank: 4 },
        parallel: { worldSize: 3 },
      },
      home,
      {
        env: { GRADBENCH_FAULT: 'crash:1:3' },
        onEvent: (e) => {
          if (e.type === 'rank-exit' && e.rank === 1) crashSeenAt = Date.now();
        },
      },
    );
    const endedAt = Date.now();
    expect(r.summary.status).toBe('failed');
    expect(r.summary.error).toMatch(/rank 1 was killed by SIGKILL/);
    expect(r.summary.error).toMatch(/injected fault "crash" at step 3/);
    expect(endedAt - crashSeenAt).toBeLessThan(5000);
    expect(r.pids).toHaveLength(3);
    await noneAlive(r.pids);
    const saved = JSON.parse(readFileSync(path.join(r.dir, 'summary.json'), 'utf8'));
    expect(saved.status).toBe('failed');
    expect(readFileSync(path.join(r.dir, 'ranks', '1.log'), 'utf8')).toMatch(/injected fault/);
  });

  it('cancel ends the run as cancelled and leaves no process', async () => {
    const r = await runProfile(
      {
        name: 'cancel',
        model: { preset: 'nano' },
        train: { steps: 500, batchPerRank: 4 },
        parallel: { worldSize: 2 },
      },
      home,
      { onEvent: (e, cancel) => e.type === 'progress' && e.step === 2 && cancel() },
    );
    expect(r.summary.status).toBe('cancelled');
    expect(r.summary.methods[0].steps).toBeLessThan(500);
    await noneAlive(r.pids);
  });

  it('trains micro on the shipped corpus: loss falls by at least 30 %', async () => {
    const r = await runProfile(
      {
        name: 'micro-learns',
        model: { preset: 'micro' },
        train: { steps: 80, batchPerRank: 4, lr: 6e-3, warmupSteps: 5 },
        parallel: { worldSize: 2 },
      },
      home,
    );
    expect(r.summary.status, r.summary.error).toBe('completed');
    const curve = lossCurve(r.events);
    const last = curve.slice(-5).reduce((a, b) => a + b, 0) / 5;
    expect(last).toBeLessThan(curve[0] * 0.7);
  }, 240_000);
});

describe('gradbench run (CLI)', () => {
  it('prints every invalid field of a broken profile, exits non-zero, writes nothing', async () => {
    const { home: h, cleanup: done } = tempHome();
    const bad = path.join(h, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        name: 'bad!',
        parallel: { worldSize: 3, nodes: 2 },
        train: { steps: -1, lr: 'fast' },
        backend: 'tpu',
      }),
    );
    const err = await run(process.execPath, [cli, 'run', bad], {
      env: { ...process.env, GRADBENCH_HOME: h },
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    const stderr = (err as { stderr: string }).stderr;
    for (const field of ['name:', 'train.steps:', 'train.lr:', 'backend:', 'parallel.nodes:'])
      expect(stderr).toContain(field);
    expect(existsSync(path.join(h, 'runs')) ? readdirSync(path.join(h, 'runs')) : []).toEqual([]);
    done();
  });

  it('runs a built-in profile to the end and prints where the results are', async () => {
    const { stdout } = await run(process.execPath, [cli, 'run', 'quick', '--steps', '4'], {
      env: { ...process.env, GRADBENCH_HOME: home },
    });
    const dir = /results: (.+)/.exec(stdout)![1].trim();
    expect(JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8'))).toMatchObject({
      status: 'completed',
      methods: [{ method: 'fsdp', steps: 4 }],
    });
    const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(8); // 4 steps x 2 ranks
  });
});
