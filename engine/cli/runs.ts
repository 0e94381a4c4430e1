/** `gradbench runs ...`: list, show and delete runs; prepare and finish a multi-host PyTorch run. */
import path from 'node:path';
import { formatBytes, formatDate, formatDuration, formatNumber, table } from '../util/format.js';
import { dataHome } from '../util/home.js';
import { RunsStore, type RunDetail } from '../app/runs-store.js';
import { EmulationRecordSchema } from '../run/target.js';
import { UsageError } from './help.js';
import { FINAL_LOSS_NOTE } from '../run/summary.js';
import { LOAD_WARNING_HEAD, loadWarnings } from '../app/load-warning.js';
import { json, parse, print } from './args.js';

export async function runsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const store = new RunsStore(dataHome());
  switch (sub) {
    case 'list':
      return runsList(store, rest);
    case 'show':
      return runsShow(store, rest);
    case 'delete': {
      const usage = 'gradbench runs delete <run> [--force]';
      const { values, positionals } = parse(
        rest,
        { force: { type: 'boolean', default: false } },
        { min: 1, max: 1, usage },
      );
      const id = await store.resolve(positionals[0]);
      if ((await store.describe(id)).status === 'running' && !values.force) {
        throw new Error(`run ${id} is still running; stop it first or pass --force`);
      }
      print(`deleted run ${id} (${await store.delete(id)})`);
      return 0;
    }
    case 'prepare':
    case 'finish':
      return externalRunCommand(sub, rest);
    default:
      throw new UsageError(
        `${sub ? `unknown runs command "${sub}"` : 'missing runs command'}; use list, show, delete, prepare or finish`,
      );
  }
}

/** PyTorch runs launched by torchrun outside GradBench (several hosts, Slurm): see README. */
export async function externalRunCommand(
  sub: 'prepare' | 'finish',
  args: string[],
): Promise<number> {
  const usage =
    sub === 'prepare'
      ? 'gradbench runs prepare <profile.json | name> [--nproc-per-node N]'
      : 'gradbench runs finish <run>';
  const { values, positionals } = parse(
    args,
    { 'nproc-per-node': { type: 'string', default: '1' } },
    { min: 1, max: 1, usage },
  );
  const ext = await import('../app/external-run.js');
  if (sub === 'finish') {
    const store = new RunsStore(dataHome());
    const s = await ext.finishRun(store.runDir(await store.resolve(positionals[0])));
    print(`run ${s.run}: ${s.status}${s.error ? ` (${s.error})` : ''}`);
    return s.status === 'completed' ? 0 : 1;
  }
  const { loadProfile } = await import('./run.js');
  const run = await ext.prepareRun(await loadProfile(positionals[0], dataHome()), dataHome());
  print(
    `run directory: ${run.dir}\non every host:\n${ext.externalCommand(run.dir, Number(values['nproc-per-node']))}\nthen: gradbench runs finish ${run.id}`,
  );
  return 0;
}

async function runsList(store: RunsStore, args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { json },
    { min: 0, max: 0, usage: 'gradbench runs list [--json]' },
  );
  const runs = await store.list();
  if (values.json) {
    print(JSON.stringify(runs, null, 2));
    return 0;
  }
  if (!runs.length) {
    print(`no runs yet in ${store.dir}`);
    return 0;
  }
  const rows = runs.map((r) => [
    r.id,
    r.profile,
    r.engine,
    r.status,
    formatDate(r.startedAt),
    r.methods.join(','),
  ]);
  print(table(['ID', 'PROFILE', 'ENGINE', 'STATUS', 'STARTED', 'METHODS'], rows));
  for (const r of runs.filter((x) => x.error))
    process.stderr.write(`gradbench: ${r.id}: ${r.error}\n`);
  return 0;
}

/** The real cluster a ratio-preserving emulated run stands for, in one line. */
function emulationLine(raw: unknown): string | undefined {
  const r = EmulationRecordSchema.safeParse(raw);
  if (!r.success) return undefined;
  const e = r.data;
  return `${e.cluster.name}: its links slowed ${formatNumber(e.scale, 3)}x (compute per step ${formatDuration(e.boxComputeMs)} here, ${formatDuration(e.targetComputeMs)} there); inter-node ${formatNumber(e.inter.gbps, 4)} Gb/s emulated for ${e.targetInter.gbps} Gb/s`;
}

function runText(run: RunDetail): string {
  const s = run.summary;
  const lines = [`run      ${run.id}`, `dir      ${run.dir}`];
  const standsFor = emulationLine(run.config?.emulation);
  if (standsFor) lines.push(`emulates ${standsFor}`);
  if (s) {
    lines.push(
      `profile  ${s.profile}`,
      `engine   ${s.engine ?? 'builtin'}`,
      `status   ${s.status}${s.error ? `: ${s.error}` : ''}`,
    );
    lines.push(
      `started  ${formatDate(s.startedAt)}${s.finishedAt ? `, finished ${formatDate(s.finishedAt)}` : ''}`,
      '',
    );
    const rows = s.methods.map((m) => [
      m.label || m.method,
      m.status,
      String(m.steps),
      formatDuration(m.meanStepMs),
      formatDuration(m.meanExposedCommMs),
      formatNumber(m.tokensPerSec, 0),
      formatBytes(m.wireBytesPerStep),
      `${formatNumber(m.compressionRatio, 2)}x`,
      formatNumber(m.finalLoss, 4),
      m.speedupVsBaseline === undefined ? '-' : `${formatNumber(m.speedupVsBaseline, 2)}x`,
      m.speedupVsBf16 === undefined ? '-' : `${formatNumber(m.speedupVsBf16, 2)}x`,
    ]);
    const header = [
      'METHOD',
      'STATUS',
      'STEPS',
      'STEP',
      'EXPOSED COMM',
      'TOKENS/S',
      'WIRE/STEP',
      'RATIO',
      'FINAL LOSS',
      'SPEEDUP',
      'VS BF16',
    ];
    lines.push(
      table(header, rows, { align: ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'] }),
      FINAL_LOSS_NOTE,
    );
    const busy = loadWarnings(s.methods);
    if (busy.length) lines.push('', `warning: ${LOAD_WARNING_HEAD}:`, ...busy.map((w) => `  ${w}`));
  } else {
    lines.push('summary  none yet (the run is in progress, or stopped before writing it)');
  }
  lines.push('', `metrics  ${run.metrics.length} records`);
  if (run.corruptLines) {
    lines.push(
      `         ${path.join(run.dir, 'metrics.jsonl')}: ${run.corruptLines} corrupt lines skipped (${run.corruptSamples.join('; ')})`,
    );
  }
  return lines.join('\n');
}

async function runsShow(store: RunsStore, args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { json },
    { min: 1, max: 1, usage: 'gradbench runs show <run> [--json]' },
  );
  const run = await store.get(await store.resolve(positionals[0]));
  if (values.json) {
    const { metrics, ...rest } = run;
    print(JSON.stringify({ ...rest, metricsRecords: metrics.length }, null, 2));
  } else {
    print(runText(run));
  }
  for (const e of run.errors) process.stderr.write(`gradbench: ${e}\n`);
  return run.errors.length ? 1 : 0;
}
