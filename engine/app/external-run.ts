/**
 * PyTorch runs started outside the GradBench launcher (torchrun on several hosts, Slurm):
 *   `gradbench runs prepare <profile>` writes the run directory and its config.json, and prints
 *   the torchrun command line; every host runs it with --write-metrics (rank 0 appends every
 *   rank's step lines to metrics.jsonl); `gradbench runs finish <run>` then summarises
 *   metrics.jsonl into summary.json, as the launcher does, so the app reads the run like any other.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';
import { runsDir, ensureHome } from '../util/home.js';
import { describeRun, newRunId } from './launcher.js';
import { MetricLineSchema, type MetricLine, type RunSummary } from '../run/metrics.js';
import type { Profile } from '../run/profile.js';
import { methodKey, RunConfigSchema } from '../run/run-config.js';
import { compareToBaseline, summarizeMethod } from '../run/summary.js';
import { torchRunFields } from '../torch/readiness.js';
import { TORCH_PACKAGE_DIR } from '../torch/probe.js';

export async function prepareRun(
  profile: Profile,
  home: string,
): Promise<{ id: string; dir: string }> {
  if (profile.engine !== 'pytorch')
    throw new Error('only PyTorch profiles ("engine": "pytorch") run outside the launcher');
  await ensureHome(home);
  const id = newRunId(profile.name);
  const dir = path.join(runsDir(home), id);
  await mkdir(path.join(dir, 'ranks'), { recursive: true });
  const config = await describeRun(id, profile, torchRunFields(profile));
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return { id, dir };
}

/** The command each host runs (torchrun's own rendezvous; fill in the node count and endpoint). */
export function externalCommand(dir: string, nprocPerNode: number): string {
  return [
    `PYTHONPATH=${TORCH_PACKAGE_DIR} python3 -m gradbench_torch.torchrun`,
    `--nnodes $NNODES --nproc_per_node ${nprocPerNode}`,
    '--rdzv_backend c10d --rdzv_endpoint $HEAD_HOST:29500 --rdzv_id $JOB_ID',
    `-m gradbench_torch.rank --run-dir ${dir} --write-metrics`,
  ].join(' \\\n  ');
}

/** Writes summary.json from metrics.jsonl: a method is completed when every step has every rank. */
export async function finishRun(dir: string): Promise<RunSummary> {
  const config = RunConfigSchema.parse(
    JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')),
  );
  const text = await readFile(path.join(dir, 'metrics.jsonl'), 'utf8').catch(() => '');
  const lines: MetricLine[] = text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      const r = MetricLineSchema.safeParse(JSON.parse(l));
      return r.success ? [r.data] : [];
    });
  const { steps, worldSize } = { ...config.profile.train, ...config.profile.parallel };
  const summaries = config.methods.map((m) => {
    const n = lines.filter((l) => l.method === methodKey(m)).length;
    const complete = n === steps * worldSize;
    const why = `${n} of ${steps * worldSize} step lines in metrics.jsonl`;
    return summarizeMethod(m, lines, complete ? 'completed' : 'failed', complete ? undefined : why);
  });
  const failed = summaries.find((s) => s.status !== 'completed');
  const summary: RunSummary = {
    run: config.run,
    profile: config.profile.name,
    engine: config.profile.engine,
    status: failed ? 'failed' : 'completed',
    startedAt: config.createdAt,
    finishedAt: new Date().toISOString(),
    ...(failed ? { error: `${failed.label}: ${failed.error}` } : {}),
    methods: compareToBaseline(summaries),
  };
  await writeFileAtomic(path.join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
