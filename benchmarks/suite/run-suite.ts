/**
 * The benchmark suite:
 *   npm run bench                      every default scenario, then the report
 *   npm run bench -- crossover world   the named scenarios (opt-in ones too)
 *   npm run bench -- --list            scenarios, their runs and whether they are default
 * Options: --steps N (override every run), --repeat N (every run executes its methods N times,
 * interleaved, for medians with intervals), --home DIR (results home; default benchmarks/runs or
 * $GRADBENCH_BENCH_HOME), --no-report (keep BENCHMARKS.md as it is).
 *
 * Each scenario's run directories go to the results home; its compact record (results.ts) goes
 * to benchmarks/results/suite/<scenario>.json, from which `npm run bench:report` rebuilds the
 * report without running anything.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRun, type RunEvent } from '../../engine/app/launcher.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { WARMUP_STEPS } from '../../engine/run/summary.js';
import { gitSha } from '../../engine/util/runtime-path.js';
import { machineLine } from '../report.js';
import { netnsUnavailableReason, withHosts, type NetnsHosts } from '../netns/netns-hosts.js';
import {
  predictOwnLinks,
  recordFromRun,
  writeScenarioRecord,
  type RunRecord,
  type ScenarioRecord,
} from './results.js';
import { runProfile, scenarioByName, SCENARIOS, type SuiteScenario } from './scenarios.js';
import { generateReport } from './report.js';
import { DEFAULT_HOME } from './suite-home.js';
import type { Profile } from '../../engine/run/profile.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { resolveTier } from '../../engine/comm/emulation.js';

const duration = (sec: number): string =>
  sec >= 60
    ? `${Math.floor(sec / 60)}m${String(Math.round(sec % 60)).padStart(2, '0')}s`
    : `${Math.round(sec)} s`;

/**
 * Suite-wide progress and ETA. A method's cost is modelled as start-up plus steps x ranks (ranks
 * share the cores); the rate is re-estimated from every finished method.
 */
class Progress {
  private doneUnits = 0;
  private doneSec = 0;
  private readonly t0 = Date.now();

  constructor(private remainingUnits: number) {}

  static units(p: Profile): number {
    return resolveMethods(p).length * (p.train.steps * p.parallel.worldSize + 12);
  }

  finished(units: number, sec: number): void {
    this.doneUnits += units;
    this.doneSec += sec;
    this.remainingUnits -= units;
  }

  /** A skipped run: nothing left to do for it, and no time to learn the rate from. */
  skipped(units: number): void {
    this.remainingUnits -= units;
  }

  /** Seconds left in the suite, `inFlight` units of the current method already under way. */
  eta(inFlightUnitsDone = 0): number {
    const rate = this.doneUnits > 0 ? this.doneSec / this.doneUnits : 0.12;
    return Math.max(0, (this.remainingUnits - inFlightUnitsDone) * rate);
  }

  elapsed(): number {
    return (Date.now() - this.t0) / 1000;
  }
}

/** One run of a scenario through the launcher; kernel-link runs get their own namespaces. */
async function executeRun(
  scenario: SuiteScenario,
  index: number,
  profile: Profile,
  home: string,
  progress: Progress,
): Promise<RunRecord> {
  const spec = scenario.runs[index];
  const t0 = Date.now();
  const world = profile.parallel.worldSize;
  const perMethodUnits = profile.train.steps * world + 12;
  let methodT0 = Date.now();
  const onEvent = (e: RunEvent): void => {
    const head = `[${scenario.name} run ${index + 1}/${scenario.runs.length}: ${spec.label}]`;
    if (e.type === 'method-start') {
      methodT0 = Date.now();
      process.stderr.write(
        `${head} method ${e.index + 1}/${e.total} ${e.label} | suite ETA ${duration(progress.eta())}\n`,
      );
    } else if (e.type === 'progress' && ((e.step + 1) % 5 === 0 || e.step + 1 === e.steps)) {
      const inFlight = ((e.step + 1) / e.steps) * perMethodUnits;
      process.stderr.write(
        `${head}   step ${e.step + 1}/${e.steps} loss ${e.loss.toFixed(3)} ${e.stepMs.toFixed(0)} ms/step, method ETA ${duration(e.etaSec)}, suite ETA ${duration(progress.eta(inFlight))}\n`,
      );
    } else if (e.type === 'method-end') {
      progress.finished(perMethodUnits, (Date.now() - methodT0) / 1000);
      const s = e.summary;
      process.stderr.write(
        `${head}   ${s.label}: ${s.status}, ${s.meanStepMs?.toFixed(0) ?? '-'} ms/step${s.speedupVsBaseline ? `, ${s.speedupVsBaseline.toFixed(3)}x vs FSDP` : ''}\n`,
      );
    }
  };
  const launch = async (hosts?: NetnsHosts): Promise<RunRecord> => {
    const handle = await startRun(profile, {
      home,
      onEvent,
      ...(hosts ? { placement: hosts.placement(world / profile.parallel.nodes) } : {}),
    });
    await handle.done;
    const detail = await new RunsStore(home).get(handle.id);
    const note = hosts
      ? [`tc on each host's eth0: ${hosts.qdiscs.replace(/\n/g, ' | ')}`, hosts.delayNote]
          .filter(Boolean)
          .join('; ')
      : undefined;
    const { predicted, note: projectionNote } = await predictOwnLinks(
      handle.dir,
      spec.links ?? 'emulated',
    );
    if (projectionNote) process.stderr.write(`${spec.label}: ${projectionNote}\n`);
    return recordFromRun(detail, {
      predicted,
      key: spec.key,
      label: spec.label,
      ...(spec.x !== undefined ? { x: spec.x } : {}),
      links: spec.links ?? 'emulated',
      ...(note ? { linkNote: note } : {}),
      wallSec: (Date.now() - t0) / 1000,
      loadAvg: os.loadavg()[0],
    });
  };
  if (spec.links !== 'kernel') return launch();
  const inter = resolveTier(profile.network.inter);
  if (!inter)
    throw new Error(
      `scenario ${scenario.name}/${spec.key}: kernel links need an inter-node { gbps, latencyUs }`,
    );
  return withHosts(profile.parallel.nodes, inter, launch);
}

/** A scenario run's profile with the command line's --steps and --repeat applied. */
function withOptions(p: Profile, o: { steps?: number; repeat?: number }): Profile {
  return {
    ...p,
    ...(o.steps ? { train: { ...p.train, steps: o.steps } } : {}),
    ...(o.repeat ? { repeat: o.repeat } : {}),
  };
}

export async function runScenario(
  scenario: SuiteScenario,
  opts: { home: string; steps?: number; repeat?: number; progress: Progress },
): Promise<ScenarioRecord> {
  const t0 = Date.now();
  const machine = machineLine();
  const profiles = scenario.runs.map((r) => withOptions(runProfile(scenario, r), opts));
  const base = {
    scenario: scenario.name,
    title: scenario.title,
    question: scenario.question,
    axis: scenario.axis,
    measuredAt: new Date().toISOString(),
    machine,
    ...(gitSha() ? { gitSha: gitSha()!.slice(0, 7) } : {}),
    warmupSteps: WARMUP_STEPS,
  };
  const needsNetns = scenario.runs.some((r) => r.links === 'kernel');
  const why = needsNetns ? netnsUnavailableReason() : undefined;
  if (why) {
    process.stderr.write(`[${scenario.name}] skipped: ${why}\n`);
    for (const p of profiles) opts.progress.skipped(Progress.units(p));
    return { ...base, durationSec: 0, skipped: why, runs: [] };
  }
  const runs: RunRecord[] = [];
  for (const [i, p] of profiles.entries())
    runs.push(await executeRun(scenario, i, p, opts.home, opts.progress));
  return { ...base, durationSec: (Date.now() - t0) / 1000, runs };
}

function list(): string {
  return SCENARIOS.map((s) => {
    const runs = s.runs.map((r) => r.label).join(', ');
    return `${s.name.padEnd(16)} ${s.default ? 'default' : 'opt-in '}  ${s.title}\n${' '.repeat(26)}${s.question}\n${' '.repeat(26)}runs: ${runs}`;
  }).join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      list: { type: 'boolean', default: false },
      steps: { type: 'string' },
      repeat: { type: 'string' },
      home: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
    },
  });
  if (values.list) {
    process.stdout.write(`${list()}\n`);
    return;
  }
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1))
    throw new Error(`--steps: "${values.steps}" is not a positive whole number`);
  const repeat = values.repeat === undefined ? undefined : Number(values.repeat);
  if (repeat !== undefined && (!Number.isInteger(repeat) || repeat < 1 || repeat > 20))
    throw new Error(`--repeat: "${values.repeat}" is not a whole number from 1 to 20`);
  const scenarios = positionals.length
    ? positionals.map(scenarioByName)
    : SCENARIOS.filter((s) => s.default);
  const home = path.resolve(values.home ?? process.env.GRADBENCH_BENCH_HOME ?? DEFAULT_HOME);
  const units = scenarios
    .flatMap((s) => s.runs.map((r) => runProfile(s, r)))
    .reduce((a, p) => a + Progress.units(withOptions(p, { steps, repeat })), 0);
  const progress = new Progress(units);
  process.stderr.write(
    `suite: ${scenarios.map((s) => s.name).join(', ')}; runs under ${home}; first estimate ${duration(progress.eta())}\n`,
  );
  for (const [i, s] of scenarios.entries()) {
    process.stderr.write(`== scenario ${i + 1}/${scenarios.length}: ${s.name} (${s.title})\n`);
    const rec = await runScenario(s, { home, steps, repeat, progress });
    await writeScenarioRecord(rec);
    process.stderr.write(
      `== ${s.name} done in ${duration(rec.durationSec)}; suite elapsed ${duration(progress.elapsed())}\n`,
    );
  }
  if (!values['no-report']) {
    const written = await generateReport();
    process.stderr.write(
      `report: ${written.sections.length} sections in BENCHMARKS.md, ${written.figures.length} figures in docs/benchmarks/\n`,
    );
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
