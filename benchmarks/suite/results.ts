/**
 * What the suite keeps of each run: a compact record derived from the run directory (resolved
 * profile, every method's full hyper-parameters, per-method summaries, and one row per step of
 * rank-aggregated timings, bytes and loss). Run directories are large (one metrics line per rank
 * per step plus rank logs) and stay in the results home; the records are small enough to commit,
 * and the report is regenerated from them alone.
 */
import { readFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MethodSummarySchema, type MetricLine } from '../../engine/run/metrics.js';
import { ProfileSchema } from '../../engine/run/profile.js';
import { type RunDetail } from '../../engine/app/runs-store.js';
import { aggregateSteps, timedOf } from '../../engine/run/summary.js';
import { methodInfo } from '../../engine/compress/registry.js';
import { writeFileAtomic } from '../../engine/util/atomic-file.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { projectRun, readRunProfiles } from '../../engine/projection/index.js';
import type { RunMethod } from '../../engine/run/run-config.js';

/** Committed records, one file per scenario. */
export const RESULTS_DIR = path.join(packageRoot, 'benchmarks', 'results', 'suite');

/** Columns of a step row, in order (arrays keep the records small). */
export const STEP_COLUMNS = [
  'step',
  'loss',
  'stepMs',
  'computeMs',
  'exposedCommMs',
  'encodeMs',
  'decodeMs',
  'wireBytes',
  'probed',
] as const;
export type StepRow = number[];

export const PredictionSchema = z.object({
  stepMs: z.number(),
  exposedCommMs: z.number(),
  speedupVsFsdp: z.number(),
});
export type Prediction = z.infer<typeof PredictionSchema>;

export const MethodRecordSchema = z.object({
  key: z.string(),
  id: z.string(),
  label: z.string(),
  /** Every parameter, defaults filled in from the method registry. */
  params: z.record(z.string(), z.unknown()),
  errorFeedback: z.unknown(),
  stats: z.record(z.string(), z.number()).default({}),
  steps: z.array(z.array(z.number())),
  /** The projection model's prediction of this method on the run's own links. */
  predicted: PredictionSchema.optional(),
});
export type MethodRecord = z.infer<typeof MethodRecordSchema>;

export const RunRecordSchema = z.object({
  key: z.string(),
  label: z.string(),
  x: z.number().optional(),
  links: z.enum(['kernel', 'emulated']).default('emulated'),
  /** How the kernel links were set up (qdiscs, what could not be applied). */
  linkNote: z.string().optional(),
  run: z.string(),
  createdAt: z.string(),
  status: z.string(),
  error: z.string().optional(),
  backend: z.string(),
  profile: ProfileSchema,
  methods: z.array(MethodRecordSchema),
  summary: z.array(MethodSummarySchema),
  /** Wall-clock seconds of the whole run (rank start-up included). */
  wallSec: z.number(),
  /** The machine's 1-minute load average when the run ended (other processes share the cores). */
  loadAvg: z.number().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

export const ScenarioRecordSchema = z.object({
  scenario: z.string(),
  title: z.string(),
  question: z.string(),
  axis: z.string(),
  measuredAt: z.string(),
  durationSec: z.number(),
  machine: z.string(),
  gitSha: z.string().optional(),
  warmupSteps: z.number().int(),
  /** Why the scenario did not run here (e.g. no root for network namespaces). */
  skipped: z.string().optional(),
  runs: z.array(RunRecordSchema),
});
export type ScenarioRecord = z.infer<typeof ScenarioRecordSchema>;

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** A method's parameters with the registry's defaults filled in (what the ranks actually used). */
export function resolvedParams(method: RunMethod): Record<string, unknown> {
  if (method.id === 'fsdp') return {};
  const parsed = methodInfo(method.id).params.safeParse(method.params);
  return parsed.success ? (parsed.data as Record<string, unknown>) : method.params;
}

function statMeans(lines: MetricLine[]): Record<string, number> {
  const sums = new Map<string, { sum: number; n: number }>();
  for (const l of lines)
    for (const [k, v] of Object.entries(l.stats ?? {})) {
      const s = sums.get(k) ?? { sum: 0, n: 0 };
      s.sum += v;
      s.n++;
      sums.set(k, s);
    }
  return Object.fromEntries([...sums].map(([k, s]) => [k, round(s.sum / s.n, 4)]));
}

export interface RunPlacementInfo {
  key: string;
  label: string;
  x?: number;
  links?: 'kernel' | 'emulated';
  linkNote?: string;
  wallSec: number;
  loadAvg?: number;
  /** Per method key, from predictOwnLinks. */
  predicted?: Record<string, Prediction>;
}

/**
 * What the projection model (engine/projection) predicts for every method of a run directory on
 * the run's own links, from its measured per-unit compute and bytes. A run the model cannot read
 * gets no prediction (the reason is returned) rather than failing the benchmark.
 */
export async function predictOwnLinks(
  dir: string,
  links: 'kernel' | 'emulated' = 'emulated',
): Promise<{ predicted: Record<string, Prediction>; note?: string }> {
  try {
    // Kernel links are shaped by tc at the profile's figures while the transport runs raw.
    const p = projectRun(await readRunProfiles(dir, { shapedOutside: links === 'kernel' }));
    return {
      predicted: Object.fromEntries(
        p.methods.map((m) => [
          m.method,
          { stepMs: m.stepMs, exposedCommMs: m.exposedCommMs, speedupVsFsdp: m.speedupVsFsdp },
        ]),
      ),
    };
  } catch (e) {
    return { predicted: {}, note: `no projection: ${(e as Error).message}` };
  }
}

/** The compact record of one finished run directory. */
export function recordFromRun(detail: RunDetail, info: RunPlacementInfo): RunRecord {
  if (!detail.config || !detail.summary)
    throw new Error(
      `run ${detail.id} has no readable config.json or summary.json (${detail.errors.join('; ')})`,
    );
  const config = detail.config as unknown as {
    createdAt: string;
    profile: unknown;
    methods: RunMethod[];
  };
  const methods = config.methods.map((m): MethodRecord => {
    const key = m.key ?? m.id;
    const lines = detail.metrics.filter((l) => l.method === key);
    return {
      key,
      id: m.id,
      label: m.label,
      params: resolvedParams(m),
      errorFeedback:
        m.errorFeedback ?? (m.id === 'fsdp' ? 'none' : methodInfo(m.id).defaultErrorFeedback),
      stats: statMeans(lines),
      ...(info.predicted?.[key] ? { predicted: info.predicted[key] } : {}),
      steps: aggregateSteps(lines).map((s) => [
        s.step,
        round(s.loss, 5),
        round(s.stepMs, 2),
        round(s.computeMs, 2),
        round(s.exposedCommMs, 2),
        round(s.encodeMs, 2),
        round(s.decodeMs, 2),
        s.wireBytes,
        s.relError === undefined ? 0 : 1,
      ]),
    };
  });
  const { predicted: _predicted, ...placement } = info;
  return RunRecordSchema.parse({
    ...placement,
    run: detail.id,
    createdAt: config.createdAt,
    status: detail.summary.status,
    ...(detail.summary.error ? { error: detail.summary.error } : {}),
    backend: detail.metrics[0]?.backend ?? 'unknown',
    profile: config.profile,
    methods,
    summary: detail.summary.methods,
  });
}

/** Named columns of a step row. */
export function stepField(row: StepRow, col: (typeof STEP_COLUMNS)[number]): number {
  return row[STEP_COLUMNS.indexOf(col)];
}

/** Steps that time the method: after warm-up and without an error probe (as the summaries do). */
export function timedSteps(rows: StepRow[]): StepRow[] {
  return timedOf(rows, (r) => stepField(r, 'probed') !== 0);
}

export function scenarioFile(name: string, dir = RESULTS_DIR): string {
  return path.join(dir, `${name}.json`);
}

export async function writeScenarioRecord(rec: ScenarioRecord, dir = RESULTS_DIR): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await writeFileAtomic(scenarioFile(rec.scenario, dir), `${JSON.stringify(rec)}\n`);
}

/** Every scenario record in `dir`, validated; a damaged file is named in the error. */
export function readScenarioRecords(dir = RESULTS_DIR): ScenarioRecord[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      const r = ScenarioRecordSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (!r.success)
        throw new Error(
          `${file}: not a suite record (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}); rerun its scenario with npm run bench -- ${f.replace(/\.json$/, '')}`,
        );
      return r.data;
    });
}
