/**
 * Runs a benchmark: for each method (the FSDP baseline first), spawn one process per rank, stream
 * their metrics into the run directory, and summarise. Fail-fast: the first rank to die ends the
 * method and the run as failed, every other rank is killed, and the error carries the dead rank's
 * last log lines. Cancel: SIGTERM to every rank, SIGKILL after a grace period. Stall watchdog: a
 * method that completes no step for `stallTimeoutMs` is stopped; ranks send a heartbeat from
 * their compute thread, so the error names the rank that stopped responding (a stuck process),
 * or says that every rank responds and the ranks are waiting on communication (a stalled link).
 *
 * Numerical health: ranks send 'health' warnings (engine/parallel/health.ts) before their step
 * line, which records them in metrics.jsonl; ranks stopped by the health check (health.stopOnError)
 * exit with HEALTH_STOP_EXIT at the same step, and the method fails with that warning as its error.
 *
 * A full disk: the run directory holds a small reserve file from the start, removed just before
 * the final summary is written, so a run that filled the disk can still record why it failed.
 *
 * Run directory (all writes atomic except the append-only logs):
 *   config.json  resolved profile, methods, versions, host   metrics.jsonl  one line per rank per step
 *   summary.json status and per-method summaries             ranks/<r>.log  each rank's output
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { compiledFile, gitSha, packageRoot } from '../util/runtime-path.js';
import {
  killRanks,
  spawnRanks,
  type RankPlacement,
  type RankProcess,
} from '../launch/local-ranks.js';
import { DiskFullError, writeFileAtomic } from '../util/atomic-file.js';
import { ensureHome, runsDir } from '../util/home.js';
import { HEALTH_STOP_EXIT } from '../parallel/health.js';
import {
  HealthWarningSchema,
  MetricLineSchema,
  healthWarningText,
  type HealthWarning,
  type MethodStatus,
  type MethodSummary,
  type MetricLine,
  type RunStatus,
  type RunSummary,
} from '../run/metrics.js';
import { preflight } from './preflight.js';
import type { LivePoint } from './api.js';
import type { Profile } from '../run/profile.js';
import { methodKey, resolveMethods, type RunConfig, type RunMethod } from '../run/run-config.js';
import { MethodLoadMeter, type MethodLoad } from './cpu-load.js';
import { compareToBaseline, notStartedSummary, summarizeMethod } from '../run/summary.js';
import { resolveTargetNetwork } from '../projection/emulate-target.js';
import { prepareTorchRun } from '../torch/readiness.js';
import { spawnTorchRanks } from '../torch/torchrun.js';

export type RunEvent =
  | { type: 'run-start'; run: string; dir: string; methods: RunMethod[]; steps: number }
  | { type: 'method-start'; method: string; label: string; index: number; total: number }
  | ({
      type: 'progress';
      method: string;
      steps: number;
      tokensPerSec: number;
      etaSec: number;
    } & LivePoint)
  | { type: 'rank-log'; method: string; rank: number; line: string }
  | { type: 'health'; warning: HealthWarning }
  | { type: 'ranks-started'; method: string; pids: number[] }
  | { type: 'rank-exit'; method: string; rank: number; code: number | null; signal: string | null }
  | { type: 'method-end'; summary: MethodSummary }
  | { type: 'run-end'; summary: RunSummary };

export interface StartRunOptions {
  home: string;
  onEvent?: (e: RunEvent) => void;
  /** Extra environment for every rank (fault injection in tests). */
  env?: Record<string, string>;
  /** Fail a method that completes no step for this long (default: the profile's health.stallTimeoutS). */
  stallTimeoutMs?: number;
  /** SIGTERM-to-SIGKILL grace on cancel. */
  cancelGraceMs?: number;
  /** Where each rank runs (e.g. one network namespace per node); default: loopback. */
  placement?: (rank: number) => RankPlacement;
}

export interface RunHandle {
  id: string;
  dir: string;
  done: Promise<RunSummary>;
  cancel(): void;
}

const EVENT_PREFIX = '@gb ';
/** A rank beats every second (engine/rank.ts); one silent for this long has stopped responding. */
const SILENT_RANK_MS = 3000;
/** How a heartbeat line starts (engine/rank.ts emits `{ ev: 'alive', ... }`). */
const HEARTBEAT_LINE = `${EVENT_PREFIX}{"ev":"alive"`;
/** Room kept free for the final summary.json of a run that fills the disk. */
const RESERVE_FILE = '.space-reserve';
const RESERVE_BYTES = 64 * 1024;

export function newRunId(profileName: string, now = new Date()): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p2(now.getMonth() + 1)}${p2(now.getDate())}-${p2(now.getHours())}${p2(now.getMinutes())}${p2(now.getSeconds())}`;
  const slug =
    profileName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'run';
  return `${stamp}-${slug}-${randomBytes(2).toString('hex')}`;
}

async function versions(): Promise<Record<string, string>> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
    dependencies?: Record<string, string>;
  };
  return {
    gradbench: pkg.version,
    node: process.version,
    tfjs: pkg.dependencies?.['@tensorflow/tfjs'] ?? 'unknown',
  };
}

/** What config.json records of a run: the resolved profile and methods, versions and host. */
export async function describeRun(
  id: string,
  profile: Profile,
  extra: Partial<RunConfig> = {},
): Promise<RunConfig> {
  return {
    run: id,
    createdAt: new Date().toISOString(),
    profile,
    methods: resolveMethods(profile),
    versions: await versions(),
    ...(gitSha() ? { gitSha: gitSha() } : {}),
    host: {
      hostname: os.hostname(),
      platform: os.platform(),
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
    },
    ...extra,
  };
}

export async function startRun(requested: Profile, opts: StartRunOptions): Promise<RunHandle> {
  // Refuse what this machine cannot run before anything is spawned or written.
  await preflight(requested);
  await ensureHome(opts.home);
  // A network target is emulated at this box's compute : communication ratio (probed first).
  const { profile, emulation } = await resolveTargetNetwork(requested);
  // Refused before anything is written when this machine's torch cannot run the profile.
  const engineFields = profile.engine === 'pytorch' ? await prepareTorchRun(profile) : {};
  const id = newRunId(profile.name);
  const dir = path.join(runsDir(opts.home), id);
  await mkdir(path.join(dir, 'ranks'), { recursive: true });
  try {
    await writeFile(path.join(dir, RESERVE_FILE), Buffer.alloc(RESERVE_BYTES));
  } catch {
    // Best effort: on a nearly full disk the run still starts; the reserve only helps it report.
    await rm(path.join(dir, RESERVE_FILE), { force: true });
  }
  const config = await describeRun(id, profile, {
    pid: process.pid,
    ...(emulation ? { emulation } : {}),
    ...engineFields,
  });
  const methods = config.methods;
  try {
    await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  } catch (e) {
    // A run directory without config.json would list as a damaged run; leave nothing behind.
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const run = new Run(id, dir, profile, methods, opts);
  return { id, dir, done: run.execute(), cancel: () => run.cancel() };
}

/**
 * Links named from what each rank's receives wait on (rank r waiting on p: the link p -> r);
 * both directions of a pair read `rank a <-> rank b`.
 */
export function stalledLinks(waitingOn: number[][]): string[] {
  const directed = new Set<string>();
  waitingOn.forEach((peers, r) => peers.forEach((p) => directed.add(`${p}>${r}`)));
  const out: string[] = [];
  for (const key of [...directed].sort()) {
    const [from, to] = key.split('>').map(Number);
    if (from < to && directed.has(`${to}>${from}`)) out.push(`rank ${from} <-> rank ${to}`);
    else if (!directed.has(`${to}>${from}`)) out.push(`rank ${from} -> rank ${to}`);
  }
  return out;
}

/** The watchdog's error: which ranks stopped responding, or that all respond but wait on comm. */
export function stallMessage(
  label: string,
  stalledMs: number,
  lastBeat: number[],
  now: number,
  silentMs = SILENT_RANK_MS,
  waitingOn: number[][] = [],
): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const silent = lastBeat.flatMap((t, rank) => (now - t > silentMs ? [rank] : []));
  const head = `no step completed for ${s(stalledMs)} during ${label}`;
  if (silent.length === 0) {
    const links = stalledLinks(waitingOn);
    const over = links.length
      ? ` over ${links.length === 1 ? 'the link' : 'the links'} ${links.join(', ')}`
      : '';
    return `${head} although every rank still responds: the ranks are waiting on communication${over} (a stalled link); run stopped`;
  }
  const who = silent.map((r) => `rank ${r} (silent for ${s(now - lastBeat[r])})`).join(', ');
  const verb = silent.length === 1 ? 'has' : 'have';
  return `${head}: ${who} ${verb} stopped responding (a stuck process); run stopped`;
}

/** The run error when the health check stopped it: the first warning of the step it stopped at. */
export function healthStopMessage(warnings: readonly HealthWarning[]): string {
  const last = Math.max(...warnings.map((w) => w.step));
  const first = warnings.filter((w) => w.step === last).sort((a, b) => a.rank - b.rank)[0];
  return first
    ? `stopped by the health check (health.stopOnError): ${healthWarningText(first)}`
    : 'the ranks stopped for a health warning (health.stopOnError) that never reached the launcher';
}

/** The progress event of a step every rank has reported (`group`: one line per rank). */
export function stepProgress(
  method: string,
  group: readonly MetricLine[],
  steps: number,
  t0: number,
): RunEvent {
  const world = group.length;
  const m = group[group.length - 1];
  const stepMs = Math.max(...group.map((g) => g.stepMs));
  const avg = (f: (g: MetricLine) => number): number => group.reduce((a, g) => a + f(g), 0) / world;
  const loss = avg((g) => g.loss);
  const tokens = group.reduce((a, g) => a + g.tokens, 0);
  const elapsed = (Date.now() - t0) / 1000;
  const etaSec = ((steps - m.step - 1) * elapsed) / (m.step + 1);
  return {
    type: 'progress',
    method,
    step: m.step,
    steps,
    loss,
    stepMs,
    computeMs: avg((g) => g.computeMs),
    exposedCommMs: avg((g) => g.exposedCommMs),
    encodeMs: avg((g) => g.encodeMs),
    decodeMs: avg((g) => g.decodeMs),
    wireBytes: avg((g) => g.wireBytes) * world,
    ...(m.bubbleMs !== undefined
      ? {
          bubbleMs: avg((g) => g.bubbleMs ?? 0),
          interStageBytes: avg((g) => g.interStageBytes ?? 0) * world,
        }
      : {}),
    tokensPerSec: tokens / (stepMs / 1000),
    etaSec,
  };
}

class Run {
  private cancelled = false;
  private procs: RankProcess[] = [];
  private metrics: WriteStream | undefined;
  private logs = new Map<number, WriteStream>();
  private writeError: Error | undefined;
  private readonly startedAt = new Date().toISOString();
  private readonly summaries: MethodSummary[] = [];
  private readonly lines: MetricLine[] = [];
  /** Index of the method whose ranks are starting or running. */
  private current = -1;

  constructor(
    private readonly id: string,
    private readonly dir: string,
    private readonly profile: Profile,
    private readonly methods: RunMethod[],
    private readonly opts: StartRunOptions,
  ) {}

  private emit(e: RunEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      /* a listener's bug must not break the run */
    }
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    killRanks(this.procs, 'SIGTERM');
    // A rank whose compute thread is stuck never runs its SIGTERM handler. Read this.procs when
    // the grace ends: ranks that were still starting at cancel time are in it by then.
    setTimeout(() => killRanks(this.procs, 'SIGKILL'), this.opts.cancelGraceMs ?? 3000).unref();
  }

  private stream(file: string): WriteStream {
    const s = createWriteStream(file, { flags: 'a' });
    s.on('error', (e: NodeJS.ErrnoException) => {
      this.writeError ??=
        e.code === 'ENOSPC' || e.code === 'EDQUOT'
          ? new DiskFullError(file, e.code)
          : new Error(`cannot write ${file}: ${e.message}`);
      killRanks(this.procs);
    });
    return s;
  }

  /**
   * Every method of the run, whatever the moment: the finished ones with their figures, the
   * current one as running, the rest as not started.
   */
  private methodRecords(): MethodSummary[] {
    const later = this.methods.slice(this.summaries.length).map((m, i) => {
      const record = notStartedSummary(m);
      return this.summaries.length + i === this.current
        ? { ...record, status: 'running' as const }
        : record;
    });
    return [...compareToBaseline(this.summaries), ...later];
  }

  private summary(status: RunStatus, error?: string): RunSummary {
    return {
      run: this.id,
      profile: this.profile.name,
      engine: this.profile.engine,
      status,
      startedAt: this.startedAt,
      ...(status === 'running' ? {} : { finishedAt: new Date().toISOString() }),
      ...(error ? { error } : {}),
      methods: this.methodRecords(),
    };
  }

  private async save(s: RunSummary): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'summary.json'), `${JSON.stringify(s, null, 2)}\n`);
  }

  async execute(): Promise<RunSummary> {
    this.emit({
      type: 'run-start',
      run: this.id,
      dir: this.dir,
      methods: this.methods,
      steps: this.profile.train.steps,
    });
    this.metrics = this.stream(path.join(this.dir, 'metrics.jsonl'));
    let status: RunStatus = 'completed';
    let error: string | undefined;
    try {
      for (const [index, method] of this.methods.entries()) {
        if (this.cancelled) break;
        this.current = index;
        await this.save(this.summary('running'));
        const r = await this.runMethod(method, index);
        this.summaries.push({
          ...summarizeMethod(method, this.lines, r.status, r.error),
          ...r.load,
        });
        this.emit({ type: 'method-end', summary: compareToBaseline(this.summaries).at(-1)! });
        if (r.status !== 'completed') {
          status = r.status === 'cancelled' ? 'cancelled' : 'failed';
          error = r.error;
          break;
        }
        await this.save(this.summary('running'));
      }
    } catch (e) {
      status = 'failed';
      error = (e as Error).message;
    }
    if (this.cancelled && status === 'completed') status = 'cancelled';
    // A method cut short outside its own ranks' outcome (a write error) is recorded as such.
    const cut = this.methods[this.current];
    if (cut && this.summaries.length === this.current && status !== 'completed')
      this.summaries.push(
        summarizeMethod(cut, this.lines, status === 'cancelled' ? 'cancelled' : 'failed', error),
      );
    this.current = -1;
    await Promise.all(
      [this.metrics, ...this.logs.values()].map(
        (s) => new Promise<void>((r) => (s ? s.end(() => r()) : r())),
      ),
    );
    if (this.writeError) {
      status = 'failed';
      error = this.writeError.message;
    }
    const final = this.summary(status, error);
    try {
      await rm(path.join(this.dir, RESERVE_FILE), { force: true });
      await this.save(final);
    } catch (e) {
      final.error = `${final.error ? `${final.error}; ` : ''}${(e as Error).message}`;
      final.status = 'failed';
    }
    this.emit({ type: 'run-end', summary: final });
    return final;
  }

  private log(rank: number): WriteStream {
    let s = this.logs.get(rank);
    if (!s) {
      s = this.stream(path.join(this.dir, 'ranks', `${rank}.log`));
      this.logs.set(rank, s);
    }
    return s;
  }

  /** Starts the ranks of the method at `index` (their lines to `onLine`). */
  private spawnMethodRanks(
    index: number,
    onLine: (rank: number, stream: 'stdout' | 'stderr', line: string) => void,
  ): Promise<RankProcess[]> {
    const p = this.profile;
    const world = p.parallel.worldSize;
    return (p.engine === 'pytorch' ? spawnTorchRanks : spawnRanks)({
      script: compiledFile('engine/rank.ts'),
      world,
      localWorld: world / p.parallel.nodes,
      network: p.network.emulate
        ? { intra: p.network.intra, inter: p.network.inter, sharedNic: p.network.sharedNic }
        : { intra: 'off', inter: 'off' },
      env: { ...this.opts.env, GRADBENCH_RUN_DIR: this.dir, GRADBENCH_METHOD: String(index) },
      placement: this.opts.placement,
      onLine,
    });
  }

  private runMethod(
    method: RunMethod,
    index: number,
  ): Promise<{ status: MethodStatus; error?: string; load: MethodLoad }> {
    const p = this.profile;
    const world = p.parallel.worldSize;
    const steps = p.train.steps;
    this.emit({
      type: 'method-start',
      method: methodKey(method),
      label: method.label,
      index,
      total: this.methods.length,
    });
    for (let r = 0; r < world; r++) this.log(r).write(`== ${method.label} (${method.id}) ==\n`);
    const byStep = new Map<number, MetricLine[]>();
    const t0 = Date.now();
    let lastProgress = Date.now();
    /** When each rank last sent any event (heartbeat, ready, step); the start if never. */
    const lastBeat = Array.from({ length: world }, () => t0);
    /** The peers each rank's receives waited on at its last heartbeat. */
    const waitingOn: number[][] = Array.from({ length: world }, () => []);
    const load = new MethodLoadMeter();
    /** This method's rank processes, once spawned (this.procs still holds the last method's before). */
    let mine: RankProcess[] = [];
    const rankPids = (): number[] => mine.flatMap((x) => x.child.pid ?? []);

    return new Promise((resolve) => {
      let settled = false;
      let failure: string | undefined;
      /** Health warnings waiting for their rank's step line, which records them (metrics.jsonl). */
      const pendingHealth = new Map<number, HealthWarning[]>();
      const warnings: HealthWarning[] = [];
      let healthStop = false;
      const finish = (status: MethodStatus, err?: string): void => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        resolve({ status, error: err, load: load.finish() });
      };
      const onLine = (rank: number, stream: 'stdout' | 'stderr', line: string): void => {
        // Heartbeats (one a second) would bury the rank's real output in its log.
        if (!(stream === 'stdout' && line.startsWith(HEARTBEAT_LINE))) {
          this.log(rank).write(`${line}\n`);
        }
        if (stream === 'stdout' && line.startsWith(EVENT_PREFIX)) {
          let ev: { ev?: string };
          try {
            ev = JSON.parse(line.slice(EVENT_PREFIX.length)) as { ev?: string };
          } catch {
            return;
          }
          lastBeat[rank] = Date.now();
          if (ev.ev === 'alive') {
            const peers = (ev as { waitingOn?: unknown }).waitingOn;
            if (Array.isArray(peers)) waitingOn[rank] = peers.filter(Number.isInteger);
            return;
          }
          if (ev.ev === 'health') {
            const w = HealthWarningSchema.safeParse(ev);
            if (!w.success) return;
            warnings.push(w.data);
            pendingHealth.set(rank, [...(pendingHealth.get(rank) ?? []), w.data]);
            this.emit({ type: 'health', warning: w.data });
            return;
          }
          if (ev.ev !== 'step') return;
          const parsed = MetricLineSchema.safeParse(ev);
          if (!parsed.success) return;
          const m = parsed.data;
          const raised = pendingHealth.get(rank);
          if (raised) {
            m.warnings = raised;
            pendingHealth.delete(rank);
          }
          this.lines.push(m);
          this.metrics!.write(`${JSON.stringify(m)}\n`);
          const group = byStep.get(m.step) ?? [];
          group.push(m);
          byStep.set(m.step, group);
          if (group.length === world) {
            byStep.delete(m.step);
            lastProgress = Date.now();
            load.sample(rankPids());
            this.emit(stepProgress(methodKey(method), group, steps, t0));
          }
        } else {
          this.emit({ type: 'rank-log', method: methodKey(method), rank, line });
        }
      };
      const stall = this.opts.stallTimeoutMs ?? p.health.stallTimeoutS * 1000;
      const watchdog = setInterval(
        () => {
          load.sample(rankPids());
          const now = Date.now();
          if (now - lastProgress <= stall || failure || this.cancelled) return;
          const silentMs = Math.min(SILENT_RANK_MS, stall * 0.75);
          failure = stallMessage(
            method.label,
            now - lastProgress,
            lastBeat,
            now,
            silentMs,
            waitingOn,
          );
          killRanks(this.procs);
        },
        Math.min(1000, Math.max(100, stall / 4)),
      );
      load.start();
      this.spawnMethodRanks(index, onLine).then(
        (procs) => {
          this.procs = procs;
          mine = procs;
          this.emit({
            type: 'ranks-started',
            method: methodKey(method),
            pids: procs.map((x) => x.child.pid ?? -1),
          });
          if (this.cancelled) killRanks(procs, 'SIGTERM');
          for (const proc of procs) {
            void proc.exited.then(({ code, signal }) => {
              this.emit({
                type: 'rank-exit',
                method: methodKey(method),
                rank: proc.rank,
                code,
                signal,
              });
              // Every rank stops at the same step; the warnings say why (read once drained, below).
              if (code === HEALTH_STOP_EXIT) healthStop = true;
              else if (code !== 0 && !failure && !this.cancelled) {
                const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
                const tail = proc.stderr.slice(-12).join('\n');
                failure = `rank ${proc.rank} ${how} during ${method.label}${tail ? `; its last log lines:\n${tail}` : ''}`;
                killRanks(procs);
              }
            });
          }
          // 'close' comes after the exit and the end of the rank's output: its last events are in.
          const drained = procs.map((x) => new Promise((r) => x.child.once('close', r)));
          void Promise.all(drained).then(() => {
            if (this.cancelled) finish('cancelled', 'cancelled by the user');
            else if (failure) finish('failed', failure);
            else if (healthStop) finish('failed', healthStopMessage(warnings));
            else finish('completed');
          });
        },
        (e: Error) => finish('failed', `could not start the ranks: ${e.message}`),
      );
    });
  }
}
