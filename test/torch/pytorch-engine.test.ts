/**
 * The PyTorch engine with real torchrun processes (2 ranks, gloo, nano, a few steps). Skipped,
 * with the reason in the suite's name, where no python3 with torch is found.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';
import { MetricLineSchema, RunSummarySchema } from '../../engine/run/metrics.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { methodInfo, parseMethodParams } from '../../engine/compress/registry.js';
import { useBackend } from '../../engine/model/backend.js';
import { buildCorpus, rankBatch } from '../../engine/model/data.js';
import { Gpt, initUnit, type GptConfig } from '../../engine/model/gpt.js';
import { gaussian } from '../../engine/util/rng.js';
import { relativeError } from '../../engine/util/vector.js';
import { freePort } from '../../engine/launch/local-ranks.js';
import { finishRun, prepareRun } from '../../engine/app/external-run.js';
import { probeTorch, torchEnv } from '../../engine/torch/probe.js';
import { torchrunArgs } from '../../engine/torch/torchrun.js';
import { expectEnded, expectNoProcessLeft } from '../faults/helpers.js';
import { runProfile, tempHome } from '../helpers/runs.js';

const probe = await probeTorch();
const skipped = probe.available ? '' : ` (skipped: ${probe.reason})`;
if (!probe.available) process.stderr.write(`PyTorch engine tests skipped: ${probe.reason}\n`);

const HOOKS = ['fp16', 'bf16', 'powersgd', 'int8', 'topk'];

const torchProfile = (over: Partial<ProfileInput> = {}): ProfileInput => ({
  name: 'torch-nano',
  engine: 'pytorch',
  model: { preset: 'nano' },
  train: { steps: 4, batchPerRank: 8, warmupSteps: 2 },
  parallel: { worldSize: 2, nodes: 1, sharding: 'NO_SHARD' },
  ...over,
});

/** The built-in engine's first-step loss (mean over ranks), in process: same init and batches. */
function builtinFirstLoss(config: GptConfig, seed: number, world: number, batch: number): number {
  const corpus = buildCorpus('shakespeare', 1);
  const model = new Gpt(config);
  const params = model.units.map((u, k) => {
    const flat = initUnit(u, k, seed);
    let off = 0;
    return u.params.map((p) => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      return tf.tensor(flat.subarray(off, (off += n)), p.shape);
    });
  });
  const losses = Array.from({ length: world }, (_, rank) => {
    const { x, y } = rankBatch(corpus.train, {
      seqLen: config.seqLen,
      batchPerRank: batch,
      world,
      rank,
      seed: 1,
      step: 0,
    });
    return tf.tidy(() => {
      let h = model.embed(params[0], tf.tensor2d(x, [batch, config.seqLen], 'int32'));
      for (let k = 1; k < params.length - 1; k++) h = model.block(params[k], h);
      const tgt = tf.tensor2d(y, [batch, config.seqLen], 'int32');
      return model.head(params.at(-1)!, h, tgt).dataSync()[0];
    });
  });
  return losses.reduce((a, b) => a + b, 0) / world;
}

describe.skipIf(!probe.available)(`PyTorch engine${skipped}`, () => {
  const { home, cleanup } = tempHome();
  afterAll(cleanup);

  describe('every hook under one torchrun, written as a multi-host run would be', () => {
    let dir = '';
    beforeAll(async () => {
      const profile = parseProfile(torchProfile({ methods: HOOKS.map((id) => ({ id })) }));
      ({ dir } = await prepareRun(profile, home));
      const args = [
        ...torchrunArgs(2, await freePort(), 'test'),
        '--run-dir',
        dir,
        '--write-metrics',
      ];
      const child = spawn(probe.executable!, args, {
        env: torchEnv({ OMP_NUM_THREADS: '1' }),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      const code = await new Promise((r) => child.once('exit', r));
      expect(code, err).toBe(0);
      await finishRun(dir);
    }, 300_000);

    it('trains with every hook: losses fall, records pass the store schema', async () => {
      const summary = RunSummarySchema.parse(
        JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')),
      );
      expect(summary.status, summary.error).toBe('completed');
      expect(summary.engine).toBe('pytorch');
      expect(summary.methods.map((m) => m.method)).toEqual(['fsdp', ...HOOKS]);
      const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => MetricLineSchema.parse(JSON.parse(l)));
      for (const m of summary.methods) {
        expect(m.steps, m.method).toBe(4);
        expect(m.finalLoss, m.method).toBeLessThan(m.firstLoss);
        const mine = lines.filter((l) => l.method === m.method);
        expect(mine).toHaveLength(8);
        const lossAt = (s: number) => mine.filter((l) => l.step === s).map((l) => l.loss);
        expect(Math.max(...lossAt(3)), m.method).toBeLessThan(Math.min(...lossAt(0)));
        if (m.method !== 'fsdp') expect(lossAt(0).length).toBe(2);
      }
      const wire = Object.fromEntries(summary.methods.map((m) => [m.method, m]));
      // Ring all-reduce of 2 ranks sends the gradient once: fp16 half of it, int8 about a quarter.
      expect(wire.fp16.compressionRatio).toBeCloseTo(2, 5);
      expect(wire.int8.compressionRatio).toBeGreaterThan(3.5);
      expect(wire.topk.compressionRatio).toBeGreaterThan(20);
      const probed = lines.filter((l) => l.step === 0 && HOOKS.includes(l.method));
      expect(probed.every((l) => l.relError !== undefined && l.relError >= 0)).toBe(true);
      await expect(new RunsStore(home).get(path.basename(dir))).resolves.toMatchObject({
        corruptLines: 0,
      });
    });

    it('starts from the built-in engine loss: same weights and batches', async () => {
      await useBackend('wasm');
      const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as {
        model: GptConfig;
      };
      const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => MetricLineSchema.parse(JSON.parse(l)))
        .filter((l) => l.method === 'fsdp' && l.step === 0);
      const torchLoss = lines.reduce((a, l) => a + l.loss, 0) / lines.length;
      const builtin = builtinFirstLoss(cfg.model, 1, 2, 8);
      const lnVocab = Math.log(cfg.model.vocab);
      expect(Math.abs(torchLoss - lnVocab) / lnVocab).toBeLessThan(0.02);
      expect(Math.abs(builtin - lnVocab) / lnVocab).toBeLessThan(0.02);
      expect(Math.abs(torchLoss - builtin) / builtin).toBeLessThan(1e-4);
    });
  });

  it("int8 and top-k hooks' relative error matches the built-in codecs' on the same gradient", async () => {
    const g = gaussian(7);
    // A gradient-like vector: mostly small values, a few large ones.
    const x = Float32Array.from({ length: 50_000 }, (_, i) => g() * (i % 97 === 0 ? 0.1 : 0.001));
    const file = path.join(home, 'grad.f32');
    writeFileSync(file, Buffer.from(x.buffer));
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        probe.executable!,
        ['-m', 'gradbench_torch.codecs', file, 'int8', 'topk'],
        {
          env: torchEnv(),
        },
      );
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`exit ${code}`)),
      );
    });
    const torchErr = JSON.parse(out) as Record<string, number>;
    for (const id of ['int8', 'topk']) {
      const c = methodInfo(id).create(parseMethodParams(id, {}), {
        world: 1,
        warmupSteps: 0,
        gradClip: 1,
      });
      const ctx = { key: 'g', step: 0, rank: 0, sharedSeed: 1, localSeed: 2 };
      const builtin = relativeError(x, c.decode(c.encode(x, ctx), x.length, ctx));
      expect(Math.abs(torchErr[id] - builtin) / builtin, id).toBeLessThan(0.1);
    }
  });

  it('refuses FSDP in the profile, on its sharding field, before anything starts', () => {
    expect(() =>
      parseProfile(torchProfile({ parallel: { worldSize: 2, sharding: 'FULL_SHARD' } })),
    ).toThrow(/parallel\.sharding: .*DDP.*NO_SHARD/s);
  });

  /** A long run; at its first step, `act` gets the ranks' pids (from their 'ready' events). */
  async function longRun(
    act: (rankPids: number[], cancel: () => void) => void,
    over: Partial<ProfileInput> = {},
  ) {
    const rankPids: number[] = [];
    let dir = '';
    const profile = torchProfile({ train: { steps: 500, batchPerRank: 8 }, ...over });
    const r = await runProfile(profile, home, {
      cancelGraceMs: 2000,
      onEvent: (e, cancel) => {
        if (e.type === 'run-start') dir = e.dir;
        if (e.type !== 'progress' || rankPids.length) return;
        for (const rank of [0, 1]) {
          const log = readFileSync(path.join(dir, 'ranks', `${rank}.log`), 'utf8');
          rankPids.push(Number(/"ev":"ready","rank":\d+,"pid":(\d+)/.exec(log)![1]));
        }
        act(rankPids, cancel);
      },
    });
    expect(r.summary.engine).toBe('pytorch');
    return { r, pids: [...r.pids, ...rankPids] };
  }

  it('a killed rank ends the run as failed, naming the rank, with no process left', async () => {
    const { r, pids } = await longRun((rankPids) => process.kill(rankPids[1], 'SIGKILL'));
    await expectEnded(r, 'failed');
    expect(r.summary.error).toMatch(/^rank 1 was killed by SIGKILL during DDP \(fp32\)/);
    await expectNoProcessLeft(pids);
  }, 180_000);

  it('cancel stops torchrun and its ranks (here with ZeroRedundancyOptimizer)', async () => {
    const { r, pids } = await longRun((_rankPids, cancel) => cancel(), {
      pytorch: { zero: true },
    });
    await expectEnded(r, 'cancelled');
    const log = readFileSync(path.join(r.dir, 'ranks', '0.log'), 'utf8');
    expect(log).toContain('DDP with fp32 all-reduce, ZeroRedundancyOptimizer');
    expect(log).toMatch(/"ev":"step".*"step":0/);
    await expectNoProcessLeft(pids);
  }, 180_000);
});
