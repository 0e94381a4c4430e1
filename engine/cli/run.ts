/** `gradbench run` and `gradbench start`: run a benchmark from the terminal with live progress. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../util/runtime-path.js';
import { RUN_USAGE, UsageError } from './help.js';
import { formatBytes, formatDuration, formatNumber, table } from '../util/format.js';
import { dataHome } from '../util/home.js';
import { LOAD_WARNING_HEAD, loadWarnings } from '../app/load-warning.js';
import { startRun, type RunEvent } from '../app/launcher.js';
import { preflight } from '../app/preflight.js';
import { displayStep, healthWarningText, type RunSummary } from '../run/metrics.js';
import { FINAL_LOSS_NOTE, measuredColumns, measuredCells, WARMUP_STEPS } from '../run/summary.js';
import { ProfileError, parseProfile, type Profile } from '../run/profile.js';
import { ProfilesStore, readProfileFile } from '../app/profiles-store.js';

/** A path to a JSON file, or the name of a saved or built-in profile. */
export async function loadProfile(ref: string, home: string): Promise<Profile> {
  if (ref.endsWith('.json') || existsSync(ref)) return readProfileFile(ref);
  return new ProfilesStore(home).get(ref);
}

function withOverrides(
  p: Profile,
  v: { steps?: string; world?: string; nodes?: string; backend?: string; repeat?: string },
): Profile {
  const input = structuredClone(p) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const int = (s: string, flag: string): number => {
    if (!/^\d+$/.test(s))
      throw new ProfileError([`--${flag}: "${s}" is not a whole number`], 'options');
    return Number(s);
  };
  if (v.steps) input.train.steps = int(v.steps, 'steps');
  if (v.world) input.parallel.worldSize = int(v.world, 'world');
  if (v.nodes) input.parallel.nodes = int(v.nodes, 'nodes');
  if (v.backend) input.backend = v.backend;
  if (v.repeat) input.repeat = int(v.repeat, 'repeat');
  return parseProfile(input, 'profile with command-line overrides');
}

function progressPrinter(steps: number): (e: RunEvent) => void {
  const tty = process.stderr.isTTY;
  const every = Math.max(1, Math.floor(steps / 10));
  let current = '';
  return (e) => {
    switch (e.type) {
      case 'run-start':
        process.stderr.write(`run ${e.run}: ${e.methods.map((m) => m.label).join(', ')}\n`);
        return;
      case 'method-start':
        current = `[${e.index + 1}/${e.total}] ${e.label}`;
        process.stderr.write(`${current}: starting ranks\n`);
        return;
      case 'progress': {
        const line = `${current}  step ${displayStep(e.step)}/${e.steps}  loss ${e.loss.toFixed(4)}  ${Math.round(e.tokensPerSec)} tok/s  ${Math.round(e.stepMs)} ms/step  ETA ${formatDuration(e.etaSec * 1000)}`;
        if (tty) process.stderr.write(`\r\x1b[2K${line}`);
        else if (displayStep(e.step) % every === 0 || displayStep(e.step) === e.steps)
          process.stderr.write(`${line}\n`);
        return;
      }
      case 'health':
        // Its own line, above a live progress line.
        process.stderr.write(
          `${tty ? '\r\x1b[2K' : ''}${current}  health: ${healthWarningText(e.warning)}\n`,
        );
        return;
      case 'method-end':
        if (tty) process.stderr.write('\n');
        if (e.summary.status !== 'completed')
          process.stderr.write(`${current}: ${e.summary.status}\n`);
        return;
      default:
        return;
    }
  };
}

/** The speedup, with its 95 % interval and repetitions when the run repeated its methods. */
function speedupText(m: RunSummary['methods'][number]): string {
  if (m.speedupVsBaseline === undefined) return '';
  const x = `${m.speedupVsBaseline.toFixed(3)}x`;
  if (m.speedupCiLow === undefined || m.speedupCiHigh === undefined) return x;
  return `${x} [${m.speedupCiLow.toFixed(3)}, ${m.speedupCiHigh.toFixed(3)}] n=${m.repeats}`;
}

/** The per-method table of a run, with how its figures are defined under it. */
export function summaryTable(s: RunSummary): string {
  // Runs on several nodes also show what crossed between them (counted per link).
  const crossNode = s.methods.some((m) => m.interNodeBytesPerStep !== undefined);
  const rows = s.methods.map((m) => [
    ...measuredCells(m, { number: formatNumber, bytes: formatBytes }, crossNode),
    formatNumber(m.finalLoss, 4),
    speedupText(m),
    m.byteCeilingSpeedup === undefined ? '' : `${m.byteCeilingSpeedup.toFixed(3)}x`,
    m.speedupVsBf16 === undefined ? '' : `${m.speedupVsBf16.toFixed(3)}x`,
  ]);
  return table(
    [...measuredColumns(crossNode), 'final loss', 'speedup', 'byte ceiling', 'vs bf16'],
    rows,
  ).concat(`\n${FINAL_LOSS_NOTE}; step ms after ${WARMUP_STEPS} warm-up steps`);
}

export async function runCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        steps: { type: 'string' },
        world: { type: 'string' },
        nodes: { type: 'string' },
        backend: { type: 'string' },
        repeat: { type: 'string' },
        home: { type: 'string' },
        json: { type: 'boolean', default: false },
        predict: { type: 'boolean', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${RUN_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1)
    throw new UsageError(
      `${positionals.length ? 'give one profile' : 'missing profile'}\nusage: ${RUN_USAGE}`,
    );
  const home = values.home ? path.resolve(values.home) : dataHome();
  let profile: Profile;
  try {
    profile = withOverrides(await loadProfile(positionals[0], home), values);
  } catch (e) {
    if (e instanceof ProfileError) {
      process.stderr.write(`gradbench: ${e.message.split('\n')[0]}\n`);
      for (const p of e.problems) process.stderr.write(`  ${p}\n`);
      return 1;
    }
    throw e;
  }
  // Refused before anything is spawned (the prediction below spawns probe ranks).
  await preflight(profile);
  // --predict: probe compute and link first, print each method's predicted speedup, and put it
  // beside the measured one at the end (prediction.json in the run directory).
  const predict = values.predict ? await import('../projection/predict.js') : undefined;
  const prediction = predict ? await predict.predictBeforeRun(profile) : undefined;
  if (predict && prediction) process.stdout.write(`${predict.predictionText(prediction)}\n`);
  const handle = await startRun(profile, { home, onEvent: progressPrinter(profile.train.steps) });
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    process.stderr.write(
      interrupts === 1 ? '\ncancelling (Ctrl-C again to force)...\n' : '\nforcing exit\n',
    );
    if (interrupts === 1) handle.cancel();
    else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const summary = await handle.done;
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else process.stdout.write(`${summaryTable(summary)}\n`);
  if (summary.error) process.stderr.write(`${summary.status}: ${summary.error}\n`);
  const busy = loadWarnings(summary.methods);
  if (busy.length) process.stderr.write(`warning: ${LOAD_WARNING_HEAD}:\n  ${busy.join('\n  ')}\n`);
  if (predict && prediction) {
    process.stdout.write(`${predict.predictionText(prediction, summary)}\n`);
    await predict.savePrediction(handle.dir, prediction);
  }
  process.stdout.write(`results: ${handle.dir}\n`);
  return summary.status === 'completed' ? 0 : summary.status === 'cancelled' ? 130 : 1;
}

/**
 * The Electron binary's path when the package and its binary are present. Read from the
 * package's path.txt rather than by loading the package: loading it downloads a missing binary,
 * which without a network ends in a fetch stack trace.
 */
function electronBinary(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('electron/package.json');
    const dir = path.dirname(pkg);
    const rel = readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
    const bin = path.join(dir, 'dist', rel);
    return rel && existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `npm start`: opens the Electron app where it can run. With a display but without Electron's
 * binary it serves the same app to a browser until Ctrl-C; without a display (or with
 * --headless) it runs the built-in "default" benchmark in the terminal instead, and stops.
 */
export async function startCommand(argv: string[]): Promise<number> {
  const headless = argv.includes('--headless');
  const rest = argv.filter((a) => a !== '--headless');
  const hasDisplay =
    process.platform !== 'linux' || !!process.env.DISPLAY || !!process.env.WAYLAND_DISPLAY;
  if (headless || !hasDisplay) {
    const why = headless ? '--headless' : 'no display (DISPLAY and WAYLAND_DISPLAY are unset)';
    process.stderr.write(
      `${why}: running the built-in "default" benchmark in the terminal; "gradbench serve" shows the app in a browser\n`,
    );
    return runCommand(['default', ...rest]);
  }
  const electron = electronBinary();
  const appMain = path.join(packageRoot, 'out', 'main', 'index.js');
  if (electron && existsSync(appMain)) {
    const child = spawn(electron, [packageRoot], { stdio: 'inherit' });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  }
  const why = electron
    ? 'the app is not built (npm run build)'
    : "Electron's binary is not installed (npm install downloads it; offline it cannot)";
  const { serve, waitForInterrupt } = await import('./serve.js');
  const served = await serve(0);
  process.stderr.write(`${why}: serving the app to a browser instead\n`);
  process.stdout.write(`open ${served.bridge.openUrl}\n`);
  return waitForInterrupt(served.bridge, served.service);
}
