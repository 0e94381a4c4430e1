/**
 * The rank entry: one process per rank, started by the local launcher, by hand, or by any
 * torchrun-style launcher (mpirun, srun, a Kubernetes Job) with RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GRADBENCH_TOKEN, GRADBENCH_RUN_DIR (holding
 * config.json) and GRADBENCH_METHOD (index into the run's methods).
 *
 * Protocol with the launcher: lines on stdout starting with "@gb " are JSON events (one metrics
 * line per step, preceded by this rank's "health" warnings of that step, then "done"); everything
 * else is log. A rank stopped by the health check (profile health.stopOnError) exits with
 * HEALTH_STOP_EXIT after the step line of the step that raised the warning; every rank stops at
 * the same step.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CommClient } from './comm/comm-client.js';
import { commConfigFromEnv } from './comm/config.js';
import { RunConfigSchema, hpzOf, methodKey, modelConfig, paramCommOf } from './run/run-config.js';
import { metricLine } from './run/metrics.js';
import { maybeInjectFault, parseFault } from './parallel/fault.js';
import { useBackend } from './model/backend.js';
import { buildCorpus, rankBatch } from './model/data.js';
import { Gpt } from './model/gpt.js';
import { FsdpTrainer } from './parallel/fsdp-trainer.js';
import { interNodeCounter } from './parallel/inter-node-bytes.js';
import { runPipelineRank } from './parallel/pipeline-rank.js';
import { HEALTH_STOP_EXIT } from './parallel/health.js';
import { withNanFault } from './parallel/nan-fault.js';
import { createReducer } from './parallel/reducers.js';
import { makeShardPlan } from './parallel/shard-plan.js';

const EVENT_PREFIX = '@gb ';
/** Steps between relative-error probes (each costs one extra uncompressed reduction, excluded from timings). */
const RELERROR_EVERY = 10;
/** Heartbeat period: the launcher names a rank silent for a few periods as stuck. */
const HEARTBEAT_MS = 1000;

function emit(ev: Record<string, unknown>): void {
  process.stdout.write(`${EVENT_PREFIX}${JSON.stringify(ev)}\n`);
}

function log(msg: string): void {
  process.stderr.write(`[rank ${process.env.RANK ?? '?'}] ${msg}\n`);
}

/** Resolves to the process exit code: 0, or HEALTH_STOP_EXIT. */
async function main(): Promise<number> {
  const comm0 = commConfigFromEnv();
  const runDir = process.env.GRADBENCH_RUN_DIR;
  if (!runDir)
    throw new Error(
      'GRADBENCH_RUN_DIR is not set: point it at the run directory holding config.json',
    );
  const cfg = RunConfigSchema.parse(
    JSON.parse(readFileSync(path.join(runDir, 'config.json'), 'utf8')),
  );
  const methodIndex = Number(process.env.GRADBENCH_METHOD ?? '0');
  const method = cfg.methods[methodIndex];
  if (!method)
    throw new Error(
      `GRADBENCH_METHOD ${methodIndex} is out of range (the run has ${cfg.methods.length} methods)`,
    );
  const fault = parseFault(process.env.GRADBENCH_FAULT);
  const p = cfg.profile;
  if (comm0.world !== p.parallel.worldSize) {
    throw new Error(
      `WORLD_SIZE ${comm0.world} does not match the profile's parallel.worldSize ${p.parallel.worldSize}`,
    );
  }

  process.on('SIGTERM', () => {
    log('cancelled (SIGTERM)');
    process.exit(143);
  });
  // Beats come from the compute thread: a rank whose thread is blocked goes silent, while ranks
  // that merely wait on a stalled link keep beating (the launcher's watchdog tells the two apart).
  // They also carry the peers this rank's receives wait on, so a stalled link can be named.
  const beat: { comm?: CommClient } = {};
  // A launcher killed outright (SIGKILL, a crash) cannot stop its ranks: they notice that they
  // were handed to another parent and stop, rather than train on for nobody.
  const launcher = process.ppid;
  setInterval(() => {
    if (process.ppid !== launcher) {
      log(`the launcher (pid ${launcher}) is gone; stopping`);
      process.exit(1);
    }
    emit({ ev: 'alive', rank: comm0.rank, waitingOn: beat.comm?.waitingOn ?? [] });
  }, HEARTBEAT_MS).unref();

  const backend = await useBackend(p.backend);
  const corpus = buildCorpus(p.data.corpus, p.data.seed);
  const model = new Gpt(modelConfig(p, corpus.vocab.length));
  const comm = await CommClient.start(comm0, (reason) => log(reason));
  beat.comm = comm;
  comm.onFailure((e) => {
    log(`communication failed: ${e.message}`);
    process.exit(1);
  });
  if (p.parallel.pipelineStages > 1) {
    const env = { cfg, method, comm, model, corpus, backend, emit, log };
    await runPipelineRank({
      ...env,
      beforeStep: (step) => maybeInjectFault(fault, comm.rank, step),
    });
    await comm.close();
    emit({ ev: 'done', rank: comm.rank, traffic: comm.traffic });
    return 0;
  }
  const plan = makeShardPlan(p.parallel.sharding, comm.rank, comm.world, p.parallel.nodes);
  const reducer = withNanFault(
    createReducer(method, {
      world: comm.world,
      warmupSteps: p.train.warmupSteps,
      gradClip: p.train.gradClip,
      seed: p.train.seed,
      relErrorEvery: RELERROR_EVERY,
      ranksPerNode: comm.world / p.parallel.nodes,
    }),
    fault,
    model.units.length,
  );
  const trainer = new FsdpTrainer(
    model,
    comm,
    plan,
    reducer,
    { ...p.train, paramComm: paramCommOf(p, method), hpz: hpzOf(p, method) },
    p.health,
  );
  if (comm.rank === 0) {
    log(
      `${method.label}: ${model.paramCount} parameters, ${trainer.units.length} units, ${p.parallel.sharding}, ${paramCommOf(p, method)} parameter gathers, world ${comm.world}, backend ${backend}`,
    );
  }
  emit({ ev: 'ready', rank: comm.rank, backend, params: model.paramCount });

  const B = p.train.batchPerRank;
  const crossNode = interNodeCounter(comm, p.parallel.nodes);
  let stoppedAt: number | undefined;
  for (let step = 0; step < p.train.steps && stoppedAt === undefined; step++) {
    maybeInjectFault(fault, comm.rank, step);
    const { x, y } = rankBatch(corpus.train, {
      seqLen: model.config.seqLen,
      batchPerRank: B,
      world: comm.world,
      rank: comm.rank,
      seed: p.data.seed,
      step,
    });
    const s = await trainer.step(step, { x, y, batch: B });
    for (const f of s.health) {
      if (f.rank !== comm.rank) continue; // every rank knows every finding; each reports its own
      emit({ ev: 'health', method: methodKey(method), ...f });
      log(`health: step ${step}: ${f.message}`);
    }
    if (trainer.health.stops(s.health)) stoppedAt = step;
    const line = metricLine(
      {
        run: cfg.run,
        method: methodKey(method),
        step,
        rank: comm.rank,
        tokens: B * model.config.seqLen,
        backend,
      },
      s,
    );
    const interNodeBytes = crossNode();
    emit({ ev: 'step', ...line, ...(interNodeBytes !== undefined ? { interNodeBytes } : {}) });
  }
  await comm.close();
  if (stoppedAt !== undefined) {
    log(`stopped by the health check at step ${stoppedAt} (health.stopOnError)`);
    return HEALTH_STOP_EXIT;
  }
  emit({ ev: 'done', rank: comm.rank, traffic: comm.traffic });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    log(`error: ${e.message}`);
    process.exit(1);
  },
);
