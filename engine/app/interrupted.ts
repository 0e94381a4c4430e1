/**
 * Runs whose launcher went away without finishing them (SIGKILL, a crash, a power cut): their
 * summary.json still says `running`, or was never written. The first reader of the store that
 * notices records the run as `interrupted`, once and atomically, so every command and page that
 * reads it afterwards agrees. The methods keep what metrics.jsonl holds of them.
 */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { pidAlive } from '../launch/local-ranks.js';
import { readOptionalJsonFile, writeFileAtomic } from '../util/atomic-file.js';
import {
  RunSummarySchema,
  type MethodSummary,
  type MetricLine,
  type RunSummary,
} from '../run/metrics.js';
import { methodKey, RunMethodSchema } from '../run/run-config.js';
import { compareToBaseline, notStartedSummary, summarizeMethod } from '../run/summary.js';

/** Created with O_EXCL by the reader that records the interruption: only one writes it. */
const CLAIM_FILE = '.interrupted';

/** What of config.json tells whether the launcher is still there. */
export interface LauncherRecord {
  pid?: number;
  host?: { hostname?: string };
  methods?: unknown;
}

/**
 * True when the run's launcher is known to be gone: it ran on this host (a pid means nothing on
 * another one) and no process has that pid any more.
 */
export function launcherGone(config: LauncherRecord | undefined): boolean {
  if (config?.pid === undefined) return false;
  const host = config.host?.hostname;
  if (host !== undefined && host !== os.hostname()) return false;
  return !pidAlive(config.pid);
}

/** The error an interrupted run carries, and the one its cut-short method carries. */
export const interruptedText = (pid: number | undefined): string =>
  `the launcher${pid === undefined ? '' : ` (pid ${pid})`} ended without finishing the run (killed, crashed or the machine stopped); the steps recorded before that are kept`;
const METHOD_CUT_SHORT = 'interrupted: the launcher ended while this method ran';

/** Every method of the run as it stood when the launcher went away. */
function interruptedMethods(
  config: LauncherRecord,
  prior: RunSummary | undefined,
  metrics: MetricLine[],
): MethodSummary[] {
  const finished = new Map(
    (prior?.methods ?? [])
      .filter((m) => m.status !== 'running' && m.status !== 'not started')
      .map((m) => [m.method, m]),
  );
  const planned = z.array(RunMethodSchema).safeParse(config.methods);
  if (!planned.success) {
    // A config this version cannot read: keep the summary's own list, ending what was running.
    return (prior?.methods ?? []).map((m) =>
      m.status === 'running' ? { ...m, status: 'failed', error: METHOD_CUT_SHORT } : m,
    );
  }
  const wasRunning = new Set(
    (prior?.methods ?? []).filter((m) => m.status === 'running').map((m) => m.method),
  );
  return compareToBaseline(
    planned.data.map((m) => {
      const key = methodKey(m);
      const done = finished.get(key);
      if (done) return done;
      const ran = wasRunning.has(key) || metrics.some((l) => l.method === key);
      return ran ? summarizeMethod(m, metrics, 'failed', METHOD_CUT_SHORT) : notStartedSummary(m);
    }),
  );
}

/**
 * Records run `dir` as interrupted (when no other reader is doing so) and returns its summary.
 * `prior` is the summary.json that says running, if there is one.
 */
export async function recordInterrupted(
  dir: string,
  config: LauncherRecord & { run?: string; profile?: unknown; createdAt?: string },
  prior: RunSummary | undefined,
  metrics: MetricLine[],
  lastWrite: Date,
): Promise<RunSummary> {
  const profile =
    prior?.profile ??
    (typeof config.profile === 'string'
      ? config.profile
      : ((config.profile as { name?: string } | undefined)?.name ?? '?'));
  const summary: RunSummary = {
    run: prior?.run ?? config.run ?? path.basename(dir),
    profile,
    status: 'interrupted',
    startedAt: prior?.startedAt ?? config.createdAt ?? lastWrite.toISOString(),
    finishedAt: lastWrite.toISOString(),
    error: interruptedText(config.pid),
    methods: interruptedMethods(config, prior, metrics),
  };
  const file = path.join(dir, 'summary.json');
  try {
    await writeFile(path.join(dir, CLAIM_FILE), `${process.pid}\n`, { flag: 'wx' });
  } catch {
    // Another reader claimed it (or the store is read-only): report, do not write.
    const theirs = await readOptionalJsonFile(file, RunSummarySchema, 'run summary').catch(
      () => undefined,
    );
    return theirs?.status === 'interrupted' ? theirs : summary;
  }
  await writeFileAtomic(file, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}
