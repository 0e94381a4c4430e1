/**
 * The runs in the results store: `<home>/runs/<run id>/` with config.json, metrics.jsonl,
 * summary.json and ranks/<r>.log. Run ids start with the start time (`20261125-120301-default-ab12`)
 * so they sort chronologically. Reading never throws on a damaged file: the problem is reported
 * in the entry (`error`, `errors`, `corruptLines`) and the rest is still shown.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FileProblem, readOptionalJsonFile } from '../util/atomic-file.js';
import { runsDir } from '../util/home.js';
import { launcherGone, recordInterrupted } from './interrupted.js';
import {
  RunSummarySchema,
  type MetricLine,
  type RunStatus,
  type RunSummary,
} from '../run/metrics.js';
import { readMetrics } from '../run/metrics-file.js';

/**
 * The fields of config.json the store reads; the file holds more (resolved profile, hardware,
 * versions, git sha), kept as is. Loose on purpose: a run written by another version still lists.
 */
export const RunConfigHeadSchema = z.looseObject({
  run: z.string().optional(),
  createdAt: z.string().optional(),
  startedAt: z.string().optional(),
  /** Process that drives the run, to tell a live run from an interrupted one. */
  pid: z.number().int().optional(),
  /** The host it runs on: its pid means nothing elsewhere. */
  host: z.looseObject({ hostname: z.string().optional() }).optional(),
  profile: z
    .union([
      z.string(),
      z.looseObject({
        name: z.string().optional(),
        engine: z.string().optional(),
        methods: z.array(z.looseObject({ id: z.string() })).optional(),
      }),
    ])
    .optional(),
  methods: z.array(z.union([z.string(), z.looseObject({ id: z.string() })])).optional(),
});
export type RunConfigHead = z.output<typeof RunConfigHeadSchema>;

export type RunListStatus = RunStatus | 'unknown';

export interface RunEntry {
  id: string;
  profile: string;
  /** 'builtin' or 'pytorch'. */
  engine: string;
  status: RunListStatus;
  startedAt?: string;
  finishedAt?: string;
  /** Method ids, in run order. */
  methods: string[];
  dir: string;
  /** Why config.json or summary.json could not be used. */
  error?: string;
}

export interface RunDetail {
  id: string;
  dir: string;
  config?: RunConfigHead;
  summary?: RunSummary;
  metrics: MetricLine[];
  /** metrics.jsonl lines that were not valid JSON or not a valid metrics record (skipped). */
  corruptLines: number;
  /** The first few of those, as `line N: why`. */
  corruptSamples: string[];
  /** Damaged config.json / summary.json, one message each. */
  errors: string[];
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ID_TIME = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})/;
/** A run without summary.json whose files changed this recently is taken to be running. */
const RECENT_MS = 120_000;

/** Start time encoded in a run id (local time, as the launcher writes it), or NaN. */
export function runIdTime(id: string): number {
  const m = ID_TIME.exec(id);
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  return new Date(y, mo - 1, d, h, mi, s).getTime();
}

function methodIds(config: RunConfigHead | undefined): string[] {
  const list =
    config?.methods ?? (typeof config?.profile === 'object' ? config.profile.methods : undefined);
  return (list ?? []).map((m) => (typeof m === 'string' ? m : m.id));
}

/** The engine a run used: its summary's, else its profile's; runs from before the choice are built-in. */
function engineOf(config: RunConfigHead | undefined, summary?: RunSummary): string {
  const p = config?.profile;
  return summary?.engine ?? (typeof p === 'object' ? p.engine : undefined) ?? 'builtin';
}

function profileName(config: RunConfigHead | undefined): string | undefined {
  const p = config?.profile;
  return typeof p === 'string' ? p : p?.name;
}

export class RunsStore {
  readonly dir: string;

  constructor(readonly home: string) {
    this.dir = runsDir(home);
  }

  /** Directory of run `id` (which must be a plain run id, not a path). */
  runDir(id: string): string {
    if (!RUN_ID.test(id) || id === '.' || id === '..') throw new Error(`"${id}" is not a run id`);
    return path.join(this.dir, id);
  }

  /** Every run, newest first. */
  async list(): Promise<RunEntry[]> {
    const entries = await Promise.all((await this.ids()).map((id) => this.entry(id)));
    const time = (e: RunEntry): number => {
      const t = e.startedAt ? Date.parse(e.startedAt) : NaN;
      return Number.isNaN(t) ? runIdTime(e.id) || 0 : t;
    };
    return entries.sort((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  /** Everything recorded for one run; damaged parts are reported, not thrown. */
  async get(id: string): Promise<RunDetail> {
    const dir = await this.existingDir(id);
    const { config, summary, errors } = await readHead(dir);
    const metrics = await readMetrics(path.join(dir, 'metrics.jsonl'));
    return { id, dir, config, summary, errors, ...metrics };
  }

  /** The list entry of one run. */
  async describe(id: string): Promise<RunEntry> {
    return this.entry(id, await this.existingDir(id));
  }

  /** Removes a run directory with everything in it; returns the directory. */
  async delete(id: string): Promise<string> {
    const dir = await this.existingDir(id);
    await rm(dir, { recursive: true, force: true });
    return dir;
  }

  /** A full run id from an id, a unique prefix of one, or `latest`. */
  async resolve(idOrPrefix: string): Promise<string> {
    if (idOrPrefix === 'latest') {
      const [newest] = await this.list();
      if (!newest) throw new Error(`there are no runs yet in ${this.dir}`);
      return newest.id;
    }
    const ids = await this.ids();
    if (ids.includes(idOrPrefix)) return idOrPrefix;
    const matches = idOrPrefix ? ids.filter((id) => id.startsWith(idOrPrefix)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw new Error(`no run matches "${idOrPrefix}" in ${this.dir}`);
    const shown = matches.slice(0, 5).join(', ') + (matches.length > 5 ? ', ...' : '');
    throw new Error(
      `"${idOrPrefix}" matches ${matches.length} runs (${shown}); give more of the id`,
    );
  }

  private async ids(): Promise<string[]> {
    let dirents;
    try {
      dirents = await readdir(this.dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return dirents
      .filter((d) => d.isDirectory() && RUN_ID.test(d.name))
      .map((d) => d.name)
      .sort();
  }

  private async existingDir(id: string): Promise<string> {
    const dir = this.runDir(id);
    const s = await stat(dir).catch(() => undefined);
    if (!s?.isDirectory()) throw new Error(`no run "${id}" in ${this.dir}`);
    return dir;
  }

  private async entry(id: string, dir = path.join(this.dir, id)): Promise<RunEntry> {
    const { config, summary, summaryDamaged, errors } = await readHead(dir);
    const error = errors.length ? errors.join('\n') : undefined;
    if (summary) {
      return {
        id,
        dir,
        profile: summary.profile,
        engine: engineOf(config, summary),
        status: summary.status,
        startedAt: summary.startedAt,
        finishedAt: summary.finishedAt,
        methods: summary.methods.map((m) => m.method),
        error,
      };
    }
    // No summary yet: running if its launcher is alive, or (without a pid) if it wrote lately.
    let status: RunListStatus = 'unknown';
    if (!summaryDamaged && config?.pid !== undefined) status = 'running';
    else if (!summaryDamaged && (await recentlyWritten(dir))) status = 'running';
    return {
      id,
      dir,
      profile: profileName(config) ?? '?',
      engine: engineOf(config),
      status,
      startedAt: config?.startedAt ?? config?.createdAt,
      methods: methodIds(config),
      error,
    };
  }
}

async function readPart<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
  errors: string[],
): Promise<z.output<S> | undefined> {
  try {
    return await readOptionalJsonFile(file, schema, what);
  } catch (e) {
    if (!(e instanceof FileProblem)) throw e;
    errors.push(e.message);
    return undefined;
  }
}

/**
 * config.json and summary.json of a run directory; damaged files end up in `errors`. A run still
 * marked running whose launcher is gone is recorded as interrupted here, so every reader agrees.
 */
async function readHead(dir: string) {
  const errors: string[] = [];
  let summary = await readPart(
    path.join(dir, 'summary.json'),
    RunSummarySchema,
    'run summary',
    errors,
  );
  const summaryDamaged = errors.length > 0;
  const config = await readPart(
    path.join(dir, 'config.json'),
    RunConfigHeadSchema,
    'run config',
    errors,
  );
  const unfinished = summary ? summary.status === 'running' : !summaryDamaged;
  if (config && unfinished && launcherGone(config)) {
    const { metrics } = await readMetrics(path.join(dir, 'metrics.jsonl'));
    const lastWrite = new Date(
      await lastWriteMs(dir, ['metrics.jsonl', 'summary.json', 'config.json']),
    );
    summary = await recordInterrupted(dir, config, summary, metrics, lastWrite);
  }
  return { config, summary, summaryDamaged, errors };
}

/** The latest modification time of the given files of `dir` (0 when none exists). */
async function lastWriteMs(dir: string, files: string[]): Promise<number> {
  const times = await Promise.all(
    files.map((f) =>
      stat(path.join(dir, f)).then(
        (s) => s.mtimeMs,
        () => 0,
      ),
    ),
  );
  return Math.max(...times);
}

async function recentlyWritten(dir: string): Promise<boolean> {
  return Date.now() - (await lastWriteMs(dir, ['metrics.jsonl', 'config.json'])) < RECENT_MS;
}
