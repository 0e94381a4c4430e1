import { beforeAll, describe, expect, it } from 'vitest';
import { optimusCc } from '../../engine/compress/methods/optimus-cc.js';
import { useBackend } from '../../engine/model/backend.js';
import { Gpt, type GptConfig } from '../../engine/model/gpt.js';
import { FsdpTrainer, type TrainConfig } from '../../engine/parallel/fsdp-trainer.js';
import { FsdpBaselineReducer } from '../../engine/parallel/grad-reducer.js';
import { pipelineLayout } from '../../engine/run/pipeline-layout.js';
import {
  PIPE_CHANNELS,
  PipelineTrainer,
  type PipeComm,
} from '../../engine/parallel/pipeline-trainer.js';
import { makeShardPlan } from '../../engine/parallel/shard-plan.js';
import { soloComm } from '../../engine/parallel/solo-comm.js';
import { localComms } from '../helpers/local-comm.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const config: GptConfig = { vocab: 11, seqLen: 8, layers: 2, dModel: 16, heads: 2, tied: true };
const train: TrainConfig = {
  steps: 4,
  lr: 3e-3,
  warmupSteps: 1,
  weightDecay: 0.01,
  gradClip: 1,
  seed: 3,
};
const B = 4; // rows per data-parallel replica
const DP = 2;
const STAGES = 2;
const M = 2;

/** Step `step`'s global batch: DP x B rows of random tokens and targets. */
function globalBatch(step: number): { x: Int32Array; y: Int32Array } {
  const n = DP * B * config.seqLen;
  const tok = (i: number, k: number): number => (i * 7 + step * 13 + k * 5) % config.vocab;
  return {
    x: Int32Array.from({ length: n }, (_, i) => tok(i, 1)),
    y: Int32Array.from({ length: n }, (_, i) => tok(i, 2)),
  };
}

/** Runs `steps` steps of 2 stages x 2 replicas in this process; returns per-step losses of every rank. */
async function runPipeline(optimus?: Record<string, unknown>, stages = STAGES, dp = DP) {
  const comms = localComms(stages * dp) as PipeComm[];
  const perReplica = (DP * B) / dp; // the same global batch for any number of replicas
  const trainers = comms.map(
    (c) =>
      new PipelineTrainer(
        new Gpt(config),
        c,
        pipelineLayout(c.rank, stages * dp, stages, config.layers + 2),
        train,
        { microBatches: M, optimus: optimus ? optimusCc.create(optimus) : undefined },
        perReplica,
      ),
  );
  // Bytes each rank hands to the comm layer on the inter-stage channels, per step.
  const sentNow = comms.map(() => 0);
  const sent: number[][] = [];
  comms.forEach((c, r) => {
    const send = c.send.bind(c);
    c.send = (data, peer, channel) => {
      if (channel === PIPE_CHANNELS.activations || channel === PIPE_CHANNELS.gradients)
        sentNow[r] += data.byteLength;
      return send(data, peer, channel);
    };
  });
  const stats = [];
  for (let step = 0; step < train.steps; step++) {
    sentNow.fill(0);
    const { x, y } = globalBatch(step);
    const rows = perReplica * config.seqLen;
    stats.push(
      await Promise.all(
        trainers.map((t) => {
          const d = t.layout.dpIndex;
          return t.step(step, {
            x: x.slice(d * rows, (d + 1) * rows),
            y: y.slice(d * rows, (d + 1) * rows),
            batch: perReplica,
          });
        }),
      ),
    );
    sent.push([...sentNow]);
  }
  return { trainers, stats, sent };
}

describe('pipeline trainer in one process (2 stages x 2 replicas, tied embeddings)', () => {
  it('exact: every rank reports the loss of single-process training on the global batch', async () => {
    const model = new Gpt(config);
    const ref = new FsdpTrainer(
      model,
      soloComm,
      makeShardPlan('NO_SHARD', 0, 1, 1),
      new FsdpBaselineReducer(),
      train,
    );
    const want: number[] = [];
    for (let step = 0; step < train.steps; step++) {
      const { x, y } = globalBatch(step);
      want.push((await ref.step(step, { x, y, batch: DP * B })).loss);
    }
    // 2 stages x 2 replicas, and 3 stages x 1 replica (a middle stage without the embedding).
    for (const [stages, dp] of [
      [2, 2],
      [3, 1],
    ]) {
      const { stats } = await runPipeline(undefined, stages, dp);
      stats.forEach((ranks, step) => {
        for (const s of ranks)
          expect(Math.abs(s.loss - want[step]) / want[step]).toBeLessThan(1e-5);
      });
    }
  });

  it('Optimus-CC: embedding copies and replicas stay identical, critical transfers compressed', async () => {
    const { trainers, stats } = await runPipeline({ rank: 2 });
    const flat = (r: number) => trainers[r].flat;
    // Replicas of a stage hold the same parameters (data-parallel averaging, same fused sync).
    expect(Array.from(flat(2).shard)).toEqual(Array.from(flat(0).shard));
    expect(Array.from(flat(3).shard)).toEqual(Array.from(flat(1).shard));
    // The last stage's embedding copy equals the first stage's wte (both got the fused sum).
    const wte = (r: number) => {
      const seg = flat(r).segments.find((s) => s.spec.name.startsWith('wte'))!;
      return Array.from(flat(r).shard.subarray(seg.offset, seg.offset + seg.size));
    };
    expect(wte(1)).toEqual(wte(0));
    // Last stage sends gradients: 1F1B critical path with 2 stages and 2 micro-batches.
    const critical = trainers[1].schedule.criticalGradients.map((t) => t.mb);
    const rows = (B / M) * config.seqLen;
    const exact = rows * config.dModel * 4;
    const factors = 2 * (rows + config.dModel) * 4;
    for (const ranks of stats) {
      expect(ranks[1].interStageBytes).toBe(
        critical.length * factors + (M - critical.length) * exact,
      );
      expect(ranks[0].interStageBytes).toBe(M * exact); // activations: always exact
      for (const s of ranks) expect(s.loss).toBeCloseTo(ranks[0].loss, 6);
    }
    expect(critical.length).toBeGreaterThan(0);
    expect(stats[0][1].stats?.backpropRelError).toBeGreaterThan(0);
  });

  it('int8 transfers: the bytes counted are the bytes sent, in the format each transfer should have', async () => {
    const { trainers, stats, sent } = await runPipeline({ rank: 2, int8Transfers: true });
    const critical = trainers[1].schedule.criticalGradients.map((t) => t.mb);
    const rows = (B / M) * config.seqLen;
    const int8 = rows * 4 + rows * config.dModel; // one fp32 scale per row, one byte per value
    const factors = 2 * (rows + config.dModel) * 4;
    const fp32 = rows * config.dModel * 4;
    stats.forEach((ranks, step) => {
      ranks.forEach((s, r) => expect(s.interStageBytes).toBe(sent[step][r]));
      // First stages send int8 activations; last stages low-rank factors on the critical path and
      // int8 codes off it (the next test has every gradient transfer in int8).
      expect(ranks[0].interStageBytes).toBe(M * int8);
      expect(ranks[1].interStageBytes).toBe(
        critical.length * factors + (M - critical.length) * int8,
      );
      for (const s of ranks) {
        expect(s.interStageRawBytes).toBe(M * fp32);
        expect(s.loss).toBeCloseTo(ranks[0].loss, 6);
        expect(Number.isFinite(s.loss)).toBe(true);
      }
    });
    // Activation quantisation error: real, and small (per-row int8).
    const actErr = stats[0][0].stats?.activationRelError ?? NaN;
    expect(actErr).toBeGreaterThan(0);
    expect(actErr).toBeLessThan(0.02);
  });

  it('int8 transfers without compressed backprop: every transfer int8, loss near the exact run', async () => {
    const exact = await runPipeline(undefined);
    // Fused embedding sync off too, so int8 is the only lossy step.
    const { stats, sent } = await runPipeline({
      compressBackprop: false,
      fuseEmbedding: false,
      int8Transfers: true,
    });
    const rows = (B / M) * config.seqLen;
    const int8 = rows * 4 + rows * config.dModel;
    stats.forEach((ranks, step) => {
      ranks.forEach((s, r) => {
        expect(s.interStageBytes).toBe(sent[step][r]);
        expect(s.interStageBytes).toBe(M * int8);
        const want = exact.stats[step][r].loss;
        expect(Math.abs(s.loss - want) / want).toBeLessThan(1e-3);
      });
    });
    expect(stats[0][1].stats?.backpropRelError).toBeGreaterThan(0);
  });

  it('Optimus-CC with a middle stage: the fused sync keeps every rank in step, copies identical', async () => {
    const { trainers, stats } = await runPipeline({ rank: 2 }, 3, 1);
    const wte = (r: number) => {
      const f = trainers[r].flat;
      const seg = f.segments.find((s) => s.spec.name.startsWith('wte'))!;
      return Array.from(f.shard.subarray(seg.offset, seg.offset + seg.size));
    };
    expect(wte(2)).toEqual(wte(0));
    expect(trainers[1].flat.segments.some((s) => s.spec.name.startsWith('wte'))).toBe(false);
    for (const ranks of stats) for (const s of ranks) expect(s.loss).toBeCloseTo(ranks[0].loss, 6);
  });
});
