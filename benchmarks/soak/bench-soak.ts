/**
 * Soak benchmark: many short runs back to back through the service the app uses (ApiService, as
 * in Electron's main process and `gradbench serve`), sampling this host process after each run:
 * open file descriptors, RSS, heap used, and rank processes left behind. A long-lived app must
 * not grow in descriptors or processes per run; memory is reported for the record.
 *
 *   npm run bench:soak [-- --runs 50 --steps 3 --no-write]
 *
 * Exits non-zero if file descriptors grow with the number of runs or any rank process outlives
 * its run. Run with --expose-gc (the npm script does) so the heap is sampled after a collection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiService } from '../../engine/app/api-service.js';
import type { LiveRun } from '../../engine/app/api.js';
import { pidAlive } from '../../engine/launch/local-ranks.js';
import { openFdCount, rankChildren } from '../../engine/launch/process-table.js';
import { machineLine, mdTable, writeSection } from '../report.js';

interface Sample {
  run: number;
  fds: number;
  rssMiB: number;
  heapMiB: number;
  leftover: number;
  ms: number;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** One run to its end; resolves with its final live state and the pids of its ranks. */
function runOnce(service: ApiService, name: string, steps: number): Promise<LiveRun> {
  return new Promise((resolve, reject) => {
    let id = '';
    let ended: LiveRun | undefined;
    const off = service.onEvent((e) => {
      if (e.type !== 'run' || e.run.profile !== name || e.run.status === 'running') return;
      ended = e.run;
      if (id) finish();
    });
    const finish = (): void => {
      off();
      resolve(ended!);
    };
    service
      .startRun({
        profile: {
          name,
          model: { preset: 'nano' },
          train: { steps, batchPerRank: 2 },
          parallel: { worldSize: 2 },
        },
      })
      .then((live) => {
        id = live.id;
        if (ended) finish();
      }, reject);
  });
}

/** Waits (briefly) for exited ranks to be reaped, then counts what is still there. */
async function leftovers(pids: number[]): Promise<number> {
  const end = Date.now() + 2000;
  const count = (): number => pids.filter(pidAlive).length + rankChildren().length;
  while (count() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return count();
}

function sample(run: number, leftover: number, ms: number): Sample {
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  return {
    run,
    fds: openFdCount() ?? NaN,
    rssMiB: mem.rss / 2 ** 20,
    heapMiB: mem.heapUsed / 2 ** 20,
    leftover,
    ms,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '50' },
      steps: { type: 'string', default: '3' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const steps = Number(values.steps);
  if (!Number.isInteger(runs) || runs < 2)
    throw new Error(`--runs must be >= 2, got ${values.runs}`);
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`--steps must be >= 1, got ${values.steps}`);
  if (openFdCount() === undefined) throw new Error('the soak benchmark needs Linux (/proc)');

  const machine = machineLine();
  const home = mkdtempSync(path.join(os.tmpdir(), 'gradbench-soak-'));
  const service = new ApiService({ home });
  const before = sample(0, 0, 0);
  const samples: Sample[] = [];
  let failedRuns = 0;
  try {
    for (let i = 1; i <= runs; i++) {
      const t0 = Date.now();
      const end = await runOnce(service, `soak-${i}`, steps);
      if (end.status !== 'completed') {
        failedRuns++;
        process.stderr.write(`run ${i}: ${end.status}: ${end.error ?? ''}\n`);
      }
      const s = sample(
        i,
        await leftovers(end.ranks.flatMap((r) => (r.pid === undefined ? [] : [r.pid]))),
        Date.now() - t0,
      );
      samples.push(s);
      process.stderr.write(
        `run ${i}/${runs}: ${end.status}, ${s.fds} fds, rss ${s.rssMiB.toFixed(1)} MiB, heap ${s.heapMiB.toFixed(1)} MiB, ${s.leftover} left over, ${s.ms} ms\n`,
      );
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }

  const xs = samples.map((s) => s.run);
  const series: [string, (s: Sample) => number, number][] = [
    ['open file descriptors', (s) => s.fds, 0],
    ['RSS (MiB)', (s) => s.rssMiB, 1],
    ['heap used (MiB)', (s) => s.heapMiB, 2],
    ['rank processes left over', (s) => s.leftover, 0],
  ];
  const rows = series.map(([label, f, digits]) => {
    const ys = samples.map(f);
    return [
      label,
      f(before).toFixed(digits),
      ys[0].toFixed(digits),
      ys.at(-1)!.toFixed(digits),
      Math.max(...ys).toFixed(digits),
      slope(xs, ys).toFixed(digits + 3),
    ];
  });
  const fdSlope = slope(
    xs,
    samples.map((s) => s.fds),
  );
  const fdGrowth = samples.at(-1)!.fds - samples[0].fds;
  const leftover = Math.max(...samples.map((s) => s.leftover));
  // One descriptor more per 50 runs is a leak; a couple opened lazily by the first runs is not.
  const fdsGrow = fdSlope > 1 / 50 || fdGrowth > 2;
  const meanMs = samples.reduce((a, s) => a + s.ms, 0) / samples.length;
  const verdict =
    fdsGrow || leftover > 0 || failedRuns > 0
      ? `**FAIL**: ${[
          fdsGrow
            ? `file descriptors grow (${fdGrowth} over the runs, ${fdSlope.toFixed(3)}/run)`
            : '',
          leftover > 0 ? `${leftover} rank processes outlived their run` : '',
          failedRuns > 0 ? `${failedRuns} runs did not complete` : '',
        ]
          .filter(Boolean)
          .join('; ')}`
      : 'PASS: no descriptor growth and no rank process left after any run';
  const body = [
    '## Soak: repeated short runs in one host process',
    '',
    `${runs} runs back to back through ApiService (nano GPT, 2 ranks, ${steps} steps each, ` +
      `${(meanMs / 1000).toFixed(2)} s per run on average), sampled after each run; "before" is ` +
      'the host before the first run, "first" after it. Slope: least-squares change per run.',
    `Machine: ${machine}.`,
    '',
    mdTable(['metric', 'before', 'first', 'last', 'max', 'slope / run'], rows),
    '',
    verdict,
    '',
    'Reproduce: `npm run bench:soak` (options `--runs N --steps N --no-write`).',
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (!values['no-write']) writeSection('soak', body);
  return fdsGrow || leftover > 0 || failedRuns > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`bench-soak: ${e.message}\n`);
    process.exit(1);
  },
);
