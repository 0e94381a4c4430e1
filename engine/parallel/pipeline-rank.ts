/**
 * The rank loop of a pipeline run (profile parallel.pipelineStages > 1): the layout from the
 * rank, the data-parallel replica's batch, one PipelineTrainer step per step, one metrics line
 * per step. Every rank of a replica reads the same rows (the first stage needs the tokens, the
 * last the targets); tokens are reported as a 1/stages share per rank so sums over ranks count
 * each token once.
 */
import type { CommClient } from '../comm/comm-client.js';
import { PIPELINE_METHOD_NAMES, findMethod } from '../compress/registry.js';
import { metricLine } from '../run/metrics.js';
import { microBatchesOf } from '../run/profile.js';
import { methodKey, type RunConfig, type RunMethod } from '../run/run-config.js';
import { rankBatch, type Corpus } from '../model/data.js';
import type { Gpt } from '../model/gpt.js';
import { pipelineLayout } from '../run/pipeline-layout.js';
import { PipelineTrainer } from './pipeline-trainer.js';

export interface PipelineRankEnv {
  cfg: RunConfig;
  method: RunMethod;
  comm: CommClient;
  model: Gpt;
  corpus: Corpus;
  backend: string;
  emit: (ev: Record<string, unknown>) => void;
  log: (msg: string) => void;
  /** Called before every step (fault injection). */
  beforeStep?: (step: number) => void;
}

export async function runPipelineRank(env: PipelineRankEnv): Promise<void> {
  const { cfg, method, comm, model, corpus, backend, emit, log } = env;
  const p = cfg.profile;
  const info = method.id === 'fsdp' ? undefined : findMethod(method.id);
  if (method.id !== 'fsdp' && info?.kind !== 'pipeline')
    throw new Error(
      `method "${method.id}" cannot run on a pipeline: use ${PIPELINE_METHOD_NAMES} or the baseline`,
    );
  const optimus = info?.kind === 'pipeline' ? info.create(method.params) : undefined;
  const layout = pipelineLayout(
    comm.rank,
    comm.world,
    p.parallel.pipelineStages,
    model.units.length,
  );
  const B = p.train.batchPerRank;
  const microBatches = microBatchesOf(p.parallel);
  const trainer = new PipelineTrainer(
    model,
    comm,
    layout,
    { ...p.train },
    { microBatches, optimus },
    B,
  );
  if (comm.rank === 0)
    log(
      `${method.label}: ${model.paramCount} parameters, ${layout.stages} stages x ${layout.dp} data-parallel, units per stage [${layout.stageUnits.map((u) => u.length).join(', ')}], ${microBatches} micro-batches, backend ${backend}`,
    );
  if (optimus?.compressBackprop && optimus.selective && comm.rank === 0)
    log(
      `critical-path gradient transfers (boundary:micro-batch): ${trainer.schedule.criticalGradients.map((t) => `${t.boundary}:${t.mb}`).join(' ')}`,
    );
  emit({ ev: 'ready', rank: comm.rank, backend, params: model.paramCount });
  for (let step = 0; step < p.train.steps; step++) {
    env.beforeStep?.(step);
    const { x, y } = rankBatch(corpus.train, {
      seqLen: model.config.seqLen,
      batchPerRank: B,
      world: layout.dp,
      rank: layout.dpIndex,
      seed: p.data.seed,
      step,
    });
    const s = await trainer.step(step, { x, y, batch: B });
    const line = {
      ...metricLine(
        {
          run: cfg.run,
          method: methodKey(method),
          step,
          rank: comm.rank,
          tokens: (B * model.config.seqLen) / layout.stages,
          backend,
        },
        s,
      ),
      bubbleMs: s.bubbleMs,
      interStageBytes: s.interStageBytes,
      interStageRawBytes: s.interStageRawBytes,
    };
    emit({ ev: 'step', ...line });
  }
}
