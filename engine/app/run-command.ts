/** `gradbench run` and `gradbench start`: run a benchmark from the terminal with live progress. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../runtime-path.js';
import { formatBytes, formatDuration, formatNumber, table } from './format.js';
import { dataHome } from './home.js';
import { startRun, type RunEvent } from './launcher.js';
import { healthWarningText, type RunSummary } from './metrics.js';
import { ProfileError, parseProfile, type Profile } from './profile.js';
import { ProfilesStore, parseProfileText } from './profiles-store.js';

/** A path to a JSON file, or the name of a saved or built-in profile. */
async function loadProfile(ref: string, home: string): Promise<Profile> {
  if (ref.endsWith('.json') || existsSync(ref)) {
    let text: string;
    try {
      text = await readFile(ref, 'utf8');
    } catch (e) {
      throw new Error(
        `cannot read profile file ${ref}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      );
    }
    return parseProfileText(text, `profile ${ref}`);
  }
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
        const line = `${current}  step ${e.step + 1}/${e.steps}  loss ${e.loss.toFixed(4)}  ${Math.round(e.tokensPerSec)} tok/s  ${Math.round(e.stepMs)} ms/step  ETA ${formatDuration(e.etaSec * 1000)}`;
        if (tty) process.stderr.write(`\r\x1b[2K${line}`);
        else if ((e.step + 1) % every === 0 || e.step + 1 === e.steps)
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

export function summaryTable(s: RunSummary): string {
  const rows = s.methods.map((m) => [
    m.label,
    m.status,
    String(m.steps),
    formatNumber(m.meanStepMs, 1),
    formatNumber(m.meanComputeMs, 1),
    formatNumber(m.meanExposedCommMs, 1),
    formatNumber(m.meanCommMs, 1),
    formatBytes(m.wireBytesPerStep),
    formatNumber(m.compressionRatio, 2),
    formatNumber(m.finalLoss, 4),
    speedupText(m),
    m.byteCeilingSpeedup === undefined ? '' : `${m.byteCeilingSpeedup.toFixed(3)}x`,
    m.speedupVsBf16 === undefined ? '' : `${m.speedupVsBf16.toFixed(3)}x`,
  ]);
  return table(
    [
      'method',
      'status',
      'steps',
      'step ms',
      'compute ms',
      'exposed comm ms',
      'comm ms',
      'wire/step',
      'ratio',
      'final loss',
      'speedup',
      'byte ceiling',
      'vs bf16',
    ],
    rows,
  );
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
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
  if (positionals.length !== 1) {
    process.stderr.write(
      'usage: gradbench run <profile.json | profile name> [--steps N] [--world N] [--nodes N] [--backend auto|tensorflow|wasm|cpu] [--repeat N] [--json] [--predict]\n',
    );
    return 2;
  }
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
  if (predict && prediction) {
    process.stdout.write(`${predict.predictionText(prediction, summary)}\n`);
    await predict.savePrediction(handle.dir, prediction);
  }
  process.stdout.write(`results: ${handle.dir}\n`);
  return summary.status === 'completed' ? 0 : summary.status === 'cancelled' ? 130 : 1;
}

/** The electron binary's path when the package and its binary are present. */
function electronBinary(): string | undefined {
  try {
    const p = createRequire(import.meta.url)('electron') as unknown;
    return typeof p === 'string' && existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `npm start`: opens the Electron app where it can run. Without Electron's binary it says so and
 * serves the same app to a browser instead (printing the URL); on a machine without a display it
 * also runs the built-in "default" benchmark headless, then stops.
 */
export async function startCommand(argv: string[]): Promise<number> {
  const electron = electronBinary();
  const headless = argv.includes('--headless');
  const rest = argv.filter((a) => a !== '--headless');
  const hasDisplay =
    process.platform !== 'linux' || !!process.env.DISPLAY || !!process.env.WAYLAND_DISPLAY;
  const appMain = path.join(packageRoot, 'out', 'main', 'index.js');
  if (electron && hasDisplay && existsSync(appMain) && !headless) {
    const child = spawn(electron, [packageRoot], { stdio: 'inherit' });
    return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  }
  const why = !electron
    ? "Electron's binary is not available"
    : !existsSync(appMain)
      ? 'the app is not built (npm run build)'
      : !hasDisplay
        ? 'there is no display'
        : 'headless requested';
  const { serve, waitForInterrupt } = await import('./serve-command.js');
  let served: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    served = await serve(0);
    process.stderr.write(`${why}: serving the app to a browser instead\n`);
    process.stdout.write(`open ${served.bridge.openUrl}\n`);
  } catch (e) {
    process.stderr.write(`${why}; cannot serve the app either: ${(e as Error).message}\n`);
  }
  if (served && hasDisplay && !headless) return waitForInterrupt(served.bridge, served.service);
  process.stderr.write('no display: running the built-in "default" benchmark headless\n');
  try {
    return await runCommand(['default', ...rest]);
  } finally {
    await served?.bridge.close();
  }
}
