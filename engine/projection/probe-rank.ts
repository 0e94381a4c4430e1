/**
 * The "will it help?" probe, one process per rank (started like a training rank, same link
 * emulation): a few solo training steps of the run's model on every rank at once (so the ranks
 * contend for the CPU as they will in the run), then ring all-reduces through the real comm layer
 * to measure the link's bus bandwidth. Prints one `@gb {"ev":"probe",...}` line.
 *
 * Environment: as for engine/rank.ts (GRADBENCH_RUN_DIR holds a config.json with the profile).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RunConfigSchema, modelConfig } from '../run/run-config.js';
import { CommClient } from '../comm/comm-client.js';
import { commConfigFromEnv } from '../comm/config.js';
import { useBackend } from '../model/backend.js';
import { buildCorpus, rankBatch } from '../model/data.js';
import { Gpt } from '../model/gpt.js';
import { FsdpTrainer } from '../parallel/fsdp-trainer.js';
import { FsdpBaselineReducer } from '../parallel/grad-reducer.js';
import { makeShardPlan } from '../parallel/shard-plan.js';
import { soloComm } from '../parallel/solo-comm.js';

/** Steps timed after one warm-up step. */
const COMPUTE_STEPS = 3;
/** All-reduce sizes grow until one call takes this long (or the largest size is reached). */
const TARGET_MS = 150;
const MAX_BYTES = 16 << 20;

async function main(): Promise<void> {
  const dir = process.env.GRADBENCH_RUN_DIR;
  if (!dir) throw new Error('GRADBENCH_RUN_DIR is not set');
  const cfg = RunConfigSchema.parse(
    JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')),
  );
  const p = cfg.profile;
  const comm = await CommClient.start(commConfigFromEnv(), () => undefined);

  // Compute: the whole model on this rank (what a FULL_SHARD rank computes), no communication.
  await useBackend(p.backend);
  const corpus = buildCorpus(p.data.corpus, p.data.seed);
  const model = new Gpt(modelConfig(p, corpus.vocab.length));
  const trainer = new FsdpTrainer(
    model,
    soloComm,
    makeShardPlan('FULL_SHARD', 0, 1, 1),
    new FsdpBaselineReducer(),
    { ...p.train },
  );
  const times: number[] = [];
  for (let step = 0; step <= COMPUTE_STEPS; step++) {
    const { x, y } = rankBatch(corpus.train, {
      seqLen: model.config.seqLen,
      batchPerRank: p.train.batchPerRank,
      world: comm.world,
      rank: comm.rank,
      seed: p.data.seed,
      step,
    });
    const s = await trainer.step(step, { x, y, batch: p.train.batchPerRank });
    if (step > 0) times.push(s.computeMs);
  }
  await comm.barrier();

  // Link: ring all-reduce over every rank, sized up until a call is long enough to time.
  let bytes = 64 << 10;
  let ms = 0;
  for (;;) {
    const buf = new Float32Array(bytes / 4);
    await comm.allReduce(buf); // warm-up at this size
    const t0 = performance.now();
    await comm.allReduce(buf);
    ms = performance.now() - t0;
    if (ms >= TARGET_MS || bytes >= MAX_BYTES || comm.world === 1) break;
    bytes *= 4;
  }
  const n = comm.world;
  const busBytes = n > 1 ? (2 * (n - 1) * bytes) / n : 0;
  const line = {
    ev: 'probe',
    rank: comm.rank,
    computeMs: times.reduce((a, b) => a + b, 0) / times.length,
    stepComputeMs: times,
    allReduceBytes: bytes,
    allReduceMs: ms,
    busGbps: ms > 0 ? (busBytes * 8) / (ms * 1e6) : 0,
  };
  process.stdout.write(`@gb ${JSON.stringify(line)}\n`);
  await comm.close();
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`probe: ${e.message}\n`);
    process.exit(1);
  },
);
