/**
 * `gradbench`: the headless command line over the engine services (profiles, runs, export,
 * hardware, comm-check). Every command returns an exit code: 0 success, 1 failure, 2 usage error.
 * Errors are one `gradbench: <message>` on stderr; GRADBENCH_DEBUG=1 adds the stack.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from './util/atomic-file.js';
import { stepsCsv, summaryCsv } from './app/csv.js';
import { formatBytes, formatDate, formatDuration, formatNumber, table } from './util/format.js';
import type { HardwareInfo } from './app/hardware.js';
import { torchRows } from './torch/describe.js';
import { dataHome } from './util/home.js';
import { ProfilesStore, readProfileFile } from './app/profiles-store.js';
import { RunsStore, type RunDetail } from './app/runs-store.js';
import { LINK_PRESET_NAMES } from './comm/emulation.js';
import { EmulationRecordSchema } from './run/target.js';
import { killRanks, spawnRanks, type RankProcess } from './launch/local-ranks.js';
import { compiledFile, packageRoot } from './util/runtime-path.js';
import { COMMAND_HELP, UsageError } from './cli/help.js';
import { FINAL_LOSS_NOTE } from './run/summary.js';
import { LOAD_WARNING_HEAD, loadWarnings } from './app/load-warning.js';

export { UsageError };

const USAGE = `gradbench: benchmark compressed gradient communication in sharded transformer training

Usage:
  gradbench run <profile.json | name> [options]   run a benchmark (see gradbench run --help)
  gradbench start                                 open the GradBench window
  gradbench serve [--port N]                      the app in a browser on 127.0.0.1 (prints its URL)
  gradbench profiles list [--json]                built-in and saved profiles
  gradbench profiles show <name>                  print a profile as JSON
  gradbench profiles validate <file.json>         check a profile file, listing every invalid field
  gradbench profiles save <file.json>             validate and save a profile
  gradbench profiles delete <name>                delete a saved profile
  gradbench profiles export <name> [file]         write a profile as JSON (stdout without file)
  gradbench hardware [--json]                     CPU, memory, GPUs, OS, compute backends and
                                                  the PyTorch engine's options
  gradbench runs list [--json]                    runs, newest first
  gradbench runs show <run> [--json]              one run's summary
  gradbench runs delete <run> [--force]           delete a run and its files
  gradbench runs prepare <profile> [--nproc-per-node N]
                                                  a PyTorch run directory for torchrun on several
                                                  hosts; prints the command line to run on each
  gradbench runs finish <run>                     summary.json of such a run from its metrics
  gradbench export <run> --csv [file] [--summary] per-step CSV (or per-method summary CSV)
  gradbench project <run> [--cluster <preset | file.json>] [--json]
                                                  predicted step time and speedup per method on
                                                  another cluster (default: the run's own links)
  gradbench comm-check [--world 4] [--nodes 1] [--network <preset|off>] [--lengths 0,1,7,1000003]
                                                  verify every collective across local ranks
  gradbench version                               print the version
  gradbench help                                  this text
  gradbench <command> --help                      one command's options

<run> is a run id, a unique prefix of one, or "latest".
Data directory: $GRADBENCH_HOME, else ~/.gradbench (now: ${dataHome()}).
`;

const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs with usage errors; checks the number of positionals. */
function parse<O extends Options>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; usage: string },
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${positionals.usage}`);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new UsageError(
      `${n < positionals.min ? 'missing argument' : `unexpected argument "${parsed.positionals[positionals.max]}"`}\nusage: ${positionals.usage}`,
    );
  }
  return parsed;
}

const json = { type: 'boolean', default: false } as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Writes `text` to `file` (atomically) or to stdout. */
async function emit(text: string, file: string | undefined, what: string): Promise<void> {
  if (!file) {
    process.stdout.write(text);
    return;
  }
  await writeFileAtomic(path.resolve(file), text);
  process.stderr.write(`wrote ${what} to ${file}\n`);
}

// ---------------------------------------------------------------------------------------------
// profiles

async function profilesCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const store = new ProfilesStore(dataHome());
  switch (sub) {
    case 'list':
      return profilesList(store, rest);
    case 'show': {
      const { positionals } = parse(
        rest,
        {},
        { min: 1, max: 1, usage: 'gradbench profiles show <name>' },
      );
      print(await store.exportJson(positionals[0]));
      return 0;
    }
    case 'validate': {
      const usage = 'gradbench profiles validate <file.json>';
      const [file] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      await readProfileFile(file);
      print(`${file}: valid`);
      return 0;
    }
    case 'save': {
      const usage = 'gradbench profiles save <file.json>';
      const [file] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      const saved = await store.save(await readProfileFile(file));
      print(`saved profile "${saved.profile.name}" to ${saved.file}`);
      return 0;
    }
    case 'delete': {
      const usage = 'gradbench profiles delete <name>';
      const [name] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      print(`deleted profile "${name}" (${await store.delete(name)})`);
      return 0;
    }
    case 'export': {
      const usage = 'gradbench profiles export <name> [file]';
      const [name, file] = parse(rest, {}, { min: 1, max: 2, usage }).positionals;
      await emit(await store.exportJson(name), file, `profile "${name}"`);
      return 0;
    }
    default:
      throw new UsageError(
        `${sub ? `unknown profiles command "${sub}"` : 'missing profiles command'}; use list, show, validate, save, delete or export`,
      );
  }
}

async function profilesList(store: ProfilesStore, args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { json },
    { min: 0, max: 0, usage: 'gradbench profiles list [--json]' },
  );
  const entries = await store.list();
  if (values.json) {
    print(JSON.stringify(entries, null, 2));
    return 0;
  }
  const rows = entries.map((e) => {
    const p = e.profile;
    const model = p
      ? 'preset' in p.model
        ? p.model.preset
        : `${p.model.layers}x${p.model.dModel}`
      : '';
    const methods = p
      ? [...(p.baseline ? ['fsdp'] : []), ...p.methods.map((m) => m.id)].join(',')
      : '';
    const world = p ? `${p.parallel.worldSize}/${p.parallel.nodes}` : '';
    return [
      e.name,
      e.builtin ? 'built-in' : 'saved',
      model,
      world,
      methods,
      e.error ? `ERROR: ${e.error.split('\n')[0]}` : (e.description ?? ''),
    ];
  });
  print(
    table(['NAME', 'SOURCE', 'MODEL', 'RANKS/NODES', 'METHODS', 'DESCRIPTION'], rows, {
      maxWidth: 70,
    }),
  );
  // The table cuts long cells; a damaged file's path and reason are printed whole.
  for (const e of entries.filter((x) => x.error)) process.stderr.write(`gradbench: ${e.error}\n`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// hardware

function hardwareText(h: HardwareInfo): string {
  const rows: string[][] = [];
  if (h.cpu) {
    const speed = h.cpu.speedGHz ? `, ${h.cpu.speedGHz} GHz` : '';
    rows.push([
      'CPU',
      `${h.cpu.manufacturer} ${h.cpu.brand} (${h.cpu.physicalCores} cores, ${h.cpu.cores} threads${speed})`,
    ]);
  }
  if (h.memory)
    rows.push([
      'Memory',
      `${formatBytes(h.memory.totalBytes)} total, ${formatBytes(h.memory.availableBytes)} available`,
    ]);
  if (h.gpus) {
    if (!h.gpus.length) rows.push(['GPU', 'none found']);
    for (const g of h.gpus) {
      const vram = g.vramMB ? `, ${formatBytes(g.vramMB * 1024 * 1024)}` : '';
      rows.push([
        'GPU',
        `${g.vendor ? `${g.vendor} ` : ''}${g.model}${vram}, driver ${g.driver ?? 'unknown'}`,
      ]);
    }
  }
  if (h.os) rows.push(['OS', `${h.os.distro} ${h.os.release} (${h.os.platform}, ${h.os.arch})`]);
  rows.push(['Node', `${h.node.version} (V8 ${h.node.v8})`]);
  for (const b of h.backends ?? [])
    rows.push(['Backend', `${b.available ? 'yes' : 'no '}  ${b.name} (${b.backend}): ${b.detail}`]);
  if (h.torch) rows.push(...torchRows(h.torch));
  for (const m of h.missing) rows.push(['Missing', m]);
  return table(['PART', 'DETAILS'], rows, { maxWidth: 120 });
}

async function hardwareCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { json },
    { min: 0, max: 0, usage: 'gradbench hardware [--json]' },
  );
  // Loaded on demand: the backend probe pulls in tfjs, which takes a second to import.
  const { detectHardware } = await import('./app/hardware.js');
  const info = await detectHardware();
  print(values.json ? JSON.stringify(info, null, 2) : hardwareText(info));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// runs

async function runsCommand(args: string[]): Promise<number> {
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
async function externalRunCommand(sub: 'prepare' | 'finish', args: string[]): Promise<number> {
  const usage =
    sub === 'prepare'
      ? 'gradbench runs prepare <profile.json | name> [--nproc-per-node N]'
      : 'gradbench runs finish <run>';
  const { values, positionals } = parse(
    args,
    { 'nproc-per-node': { type: 'string', default: '1' } },
    { min: 1, max: 1, usage },
  );
  const ext = await import('./app/external-run.js');
  if (sub === 'finish') {
    const store = new RunsStore(dataHome());
    const s = await ext.finishRun(store.runDir(await store.resolve(positionals[0])));
    print(`run ${s.run}: ${s.status}${s.error ? ` (${s.error})` : ''}`);
    return s.status === 'completed' ? 0 : 1;
  }
  const { loadProfile } = await import('./cli/run.js');
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

// ---------------------------------------------------------------------------------------------
// export

async function exportCommand(args: string[]): Promise<number> {
  const usage = 'gradbench export <run> --csv [file] [--summary]';
  const { values, positionals } = parse(
    args,
    { csv: { type: 'boolean', default: false }, summary: { type: 'boolean', default: false } },
    { min: 1, max: 2, usage },
  );
  if (!values.csv) throw new UsageError(`choose an export format: --csv\nusage: ${usage}`);
  const store = new RunsStore(dataHome());
  const run = await store.get(await store.resolve(positionals[0]));
  for (const e of run.errors) process.stderr.write(`gradbench: ${e}\n`);
  if (values.summary) {
    if (!run.summary) throw new Error(`run ${run.id} has no usable summary.json yet`);
    await emit(summaryCsv(run.summary), positionals[1], `summary of ${run.id}`);
    return 0;
  }
  if (run.corruptLines) {
    process.stderr.write(
      `gradbench: skipped ${run.corruptLines} corrupt lines of ${run.id}/metrics.jsonl\n`,
    );
  }
  await emit(stepsCsv(run.metrics), positionals[1], `per-step metrics of ${run.id}`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// comm-check

const COMM_CHECK_USAGE =
  'gradbench comm-check [--world 4] [--nodes 1] [--network <preset|off>] [--lengths 0,1,7,1000003] [--timeout <s>]';

interface CommCheckPlan {
  world: number;
  nodes: number;
  network: string;
  lengths: string;
  timeoutS: number;
}

function commCheckPlan(args: string[]): CommCheckPlan {
  const { values } = parse(
    args,
    {
      world: { type: 'string', default: '4' },
      nodes: { type: 'string', default: '1' },
      network: { type: 'string', default: 'off' },
      lengths: { type: 'string', default: '0,1,7,1000003' },
      timeout: { type: 'string', default: '600' },
    },
    { min: 0, max: 0, usage: COMM_CHECK_USAGE },
  );
  const int = (name: string, v: string, min: number): number => {
    if (!/^\d+$/.test(v) || Number(v) < min) {
      throw new UsageError(`--${name} must be a whole number >= ${min}, got "${v}"`);
    }
    return Number(v);
  };
  const plan = {
    world: int('world', values.world, 1),
    nodes: int('nodes', values.nodes, 1),
    network: values.network,
    lengths: values.lengths,
    timeoutS: int('timeout', values.timeout, 1),
  };
  if (plan.world % plan.nodes !== 0) {
    throw new UsageError(`--nodes (${plan.nodes}) must divide --world (${plan.world})`);
  }
  if (!(LINK_PRESET_NAMES as string[]).includes(plan.network)) {
    throw new UsageError(`--network must be one of ${LINK_PRESET_NAMES.join(', ')}`);
  }
  if (!/^\d+(,\d+)*$/.test(plan.lengths)) {
    throw new UsageError(`--lengths must be element counts like 0,7,1000, got "${plan.lengths}"`);
  }
  return plan;
}

interface RankOutcome {
  proc: RankProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
  checks?: number;
}

function doneChecks(proc: RankProcess): number | undefined {
  for (const line of proc.stdout) {
    try {
      const msg = JSON.parse(line) as { done?: boolean; checks?: number };
      if (msg.done) return msg.checks;
    } catch {
      // Not a JSON line of the check program.
    }
  }
  return undefined;
}

/** Runs comm-check on local ranks until all exit, the deadline passes, or Ctrl-C. */
async function runCommCheck(
  plan: CommCheckPlan,
): Promise<{ outcomes: RankOutcome[]; timedOut: boolean }> {
  const net = plan.network;
  const procs = await spawnRanks({
    script: compiledFile('engine/comm/comm-check.ts'),
    args: ['--lengths', plan.lengths],
    world: plan.world,
    localWorld: plan.world / plan.nodes,
    network: { intra: net, inter: net },
  });
  let timedOut = false;
  const stop = (): void => killRanks(procs);
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, plan.timeoutS * 1000);
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const outcomes = await Promise.all(
      procs.map(async (proc) => {
        // 'close' comes after the last output line; 'exit' may come before it.
        const closed = new Promise((resolve) => proc.child.once('close', resolve));
        const { code, signal } = await proc.exited;
        const at = Date.now();
        await closed;
        return { proc, code, signal, at, checks: doneChecks(proc) };
      }),
    );
    return { outcomes, timedOut };
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

async function commCheckCommand(args: string[]): Promise<number> {
  const plan = commCheckPlan(args);
  const started = Date.now();
  const { outcomes, timedOut } = await runCommCheck(plan);
  const passed = (o: RankOutcome): boolean => o.code === 0 && o.checks !== undefined;
  for (const o of outcomes) {
    const killed = timedOut
      ? `stopped after the ${plan.timeoutS} s timeout`
      : `killed by ${o.signal}`;
    const why = o.signal ? killed : `exit code ${o.code}`;
    print(`rank ${o.proc.rank}: ${passed(o) ? `pass (${o.checks} checks)` : `FAIL (${why})`}`);
  }
  const failed = outcomes.filter((o) => !passed(o)).sort((a, b) => a.at - b.at);
  const total = outcomes.reduce((n, o) => n + (o.checks ?? 0), 0);
  const took = formatDuration(Date.now() - started);
  if (!failed.length) {
    print(`comm-check passed: ${plan.world} ranks, ${total} checks in total, ${took}`);
    return 0;
  }
  for (const o of failed) {
    const tail = o.proc.stderr.filter((l) => l.trim()).slice(-20);
    const text = tail.length ? tail.join('\n') : '(no output)';
    process.stderr.write(
      `--- rank ${o.proc.rank} stderr (last ${tail.length} lines) ---\n${text}\n`,
    );
  }
  const cause = timedOut ? ` (timed out after ${plan.timeoutS} s)` : '';
  process.stderr.write(
    `gradbench: comm-check failed on ${failed.length} of ${plan.world} ranks${cause}; first: rank ${failed[0].proc.rank}\n`,
  );
  return 1;
}

// ---------------------------------------------------------------------------------------------

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  profiles: profilesCommand,
  hardware: hardwareCommand,
  runs: runsCommand,
  export: exportCommand,
  'comm-check': commCheckCommand,
  project: async (args) => (await import('./cli/project.js')).projectCommand(args),
  run: async (args) => (await import('./cli/run.js')).runCommand(args),
  start: async (args) => (await import('./cli/run.js')).startCommand(args),
  serve: async (args) => (await import('./cli/serve.js')).serveCommand(args),
};

function report(e: unknown): number {
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`gradbench: ${err.message}\n`);
  if (process.env.GRADBENCH_DEBUG === '1' && err.stack) process.stderr.write(`${err.stack}\n`);
  if (err instanceof UsageError) {
    process.stderr.write('run "gradbench help" for usage\n');
    return 2;
  }
  return 1;
}

/** Runs one command line (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      print(USAGE);
      return 0;
    }
    if (command === 'version' || command === '--version' || command === '-v') {
      print(`gradbench ${version()} (node ${process.versions.node})`);
      return 0;
    }
    const handler = COMMANDS[command];
    if (!handler || !Object.hasOwn(COMMANDS, command))
      throw new UsageError(`unknown command "${command}"`);
    if (rest.includes('--help') || rest.includes('-h')) {
      print(COMMAND_HELP[command] ?? USAGE);
      return 0;
    }
    return await handler(rest);
  } catch (e) {
    return report(e);
  }
}
