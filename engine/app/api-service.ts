/**
 * The engine side of `GradBenchApi`: profiles, runs, results, export and hardware over the data
 * directory, plus the live state of the runs this process started. Electron's main process and
 * `gradbench serve` both hold one of these; runs belong to it, not to a window, so they keep going
 * when the page reloads or the window closes.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type {
  ApiEvent,
  Catalog,
  CsvExport,
  GradBenchApi,
  HardwareInfo,
  LiveMethod,
  LiveRun,
  ProfileListEntry,
  ProjectionView,
  RankLog,
  RunListEntry,
  RunView,
  StartRunRequest,
  StepPoint,
  Validation,
  VersionInfo,
} from './api.js';
import { catalog } from './catalog.js';
import { stepsCsv, summaryCsv } from './csv.js';
import { detectHardware } from './hardware.js';
import { startRun, type RunEvent, type RunHandle, type StartRunOptions } from './launcher.js';
import { checkProfile, parseProfile, ProfileSchema, type Profile } from '../run/profile.js';
import { ProfilesStore } from './profiles-store.js';
import { methodKey } from '../run/run-config.js';
import { RunsStore } from './runs-store.js';
import { aggregateSteps } from '../run/summary.js';
import { readFileSync } from 'node:fs';
import { packageRoot } from '../util/runtime-path.js';

/** Rank output lines kept per live run for the Live page. */
const MAX_LOG_LINES = 200;
/** Health warnings kept per live run for the Live page (the rest are in metrics.jsonl). */
const MAX_LIVE_WARNINGS = 200;
/** Live updates are coalesced to at most one per run per this many ms. */
const EVENT_INTERVAL_MS = 150;
/** Finished runs kept in the live list by default; older ones are in the history only. */
const KEEP_FINISHED_LIVE = 10;
/** Rank logs larger than this are cut to their tail. */
const MAX_RANK_LOG_BYTES = 256 * 1024;

export interface ApiServiceOptions {
  home: string;
  /** Passed to every run (fault injection, shorter stall timeouts in tests). */
  runOptions?: Omit<StartRunOptions, 'home' | 'onEvent'>;
  detect?: () => Promise<HardwareInfo>;
  /** Finished runs kept in liveRuns() (default 10); every run stays in the store regardless. */
  keepFinishedLive?: number;
}

type Listener = (e: ApiEvent) => void;

interface Live {
  state: LiveRun;
  handle: RunHandle;
  timer?: NodeJS.Timeout;
}

const packageVersion = (() => {
  try {
    return (
      JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return '0.0.0';
  }
})();

export class ApiService implements Omit<GradBenchApi, 'onEvent'> {
  readonly profiles: ProfilesStore;
  readonly runs: RunsStore;
  private readonly live = new Map<string, Live>();
  private readonly listeners = new Set<Listener>();
  private hardwareCache: Promise<HardwareInfo> | undefined;

  constructor(private readonly opts: ApiServiceOptions) {
    this.profiles = new ProfilesStore(opts.home);
    this.runs = new RunsStore(opts.home);
  }

  onEvent(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: ApiEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* one broken subscriber must not stop the others */
      }
    }
  }

  async version(): Promise<VersionInfo> {
    return {
      name: 'gradbench',
      version: packageVersion,
      node: process.versions.node,
      dataDir: this.opts.home,
    };
  }

  async hardware(rescan = false): Promise<HardwareInfo> {
    if (rescan || !this.hardwareCache) {
      const detect = this.opts.detect ?? (() => detectHardware());
      this.hardwareCache = detect().then((h) => ({ ...h, scannedAt: new Date().toISOString() }));
      this.hardwareCache.catch(() => (this.hardwareCache = undefined));
    }
    return this.hardwareCache;
  }

  async catalog(): Promise<Catalog> {
    return catalog();
  }

  async listProfiles(): Promise<ProfileListEntry[]> {
    return (await this.profiles.list()).map(({ name, builtin, description, profile, error }) => ({
      name,
      builtin,
      ...(description ? { description } : {}),
      ...(profile ? { profile } : {}),
      ...(error ? { error } : {}),
    }));
  }

  async validateProfile(profile: unknown): Promise<Validation> {
    return checkProfile(profile);
  }

  async saveProfile(profile: unknown): Promise<Validation> {
    const checked = checkProfile(profile);
    if (!checked.ok) return checked;
    if (this.profiles.isBuiltin(checked.profile.name)) {
      return {
        ok: false,
        issues: [
          {
            path: 'name',
            message: `"${checked.profile.name}" is a built-in profile; save under another name`,
          },
        ],
      };
    }
    const saved = await this.profiles.save(checked.profile);
    this.emit({ type: 'profiles-changed' });
    return { ok: true, profile: saved.profile };
  }

  async deleteProfile(name: string): Promise<void> {
    await this.profiles.delete(name);
    this.emit({ type: 'profiles-changed' });
  }

  async startRun(request: StartRunRequest): Promise<LiveRun> {
    const profile: Profile =
      'profileName' in request
        ? await this.profiles.get(request.profileName)
        : parseProfile(request.profile, 'profile');
    const state: LiveRun = {
      id: '',
      profile: profile.name,
      status: 'running',
      startedAt: new Date().toISOString(),
      methods: [],
      ranks: [],
      logs: [],
      warnings: [],
    };
    const live = { state } as Live;
    const handle = await startRun(profile, {
      ...this.opts.runOptions,
      home: this.opts.home,
      onEvent: (e) => this.onRunEvent(live, e),
    });
    live.handle = handle;
    state.id = handle.id;
    this.live.set(handle.id, live);
    handle.done
      .then(
        // The run-end event has already settled the live state; the history changed too.
        () => this.emit({ type: 'runs-changed' }),
        (e: Error) => {
          state.status = 'failed';
          state.error = e.message;
          this.flush(live);
        },
      )
      .finally(() => this.forgetOldFinished());
    this.emit({ type: 'runs-changed' });
    return state;
  }

  /** Applies one launcher event to the live state and schedules an update for subscribers. */
  private onRunEvent(live: Live, e: RunEvent): void {
    const s = live.state;
    const method = (key: string): LiveMethod | undefined => s.methods.find((m) => m.key === key);
    switch (e.type) {
      case 'run-start':
        s.id = e.run;
        s.methods = e.methods.map((m) => ({
          key: methodKey(m),
          label: m.label,
          status: 'pending',
          step: 0,
          steps: e.steps,
          points: [],
        }));
        break;
      case 'method-start': {
        const m = method(e.method);
        if (m) m.status = 'running';
        s.current = e.method;
        s.ranks = [];
        break;
      }
      case 'ranks-started':
        s.ranks = e.pids.map((pid, rank) => ({ rank, pid, state: 'running' }));
        break;
      case 'progress': {
        const m = method(e.method);
        if (!m) break;
        m.step = e.step + 1;
        m.steps = e.steps;
        m.etaSec = e.etaSec;
        m.tokensPerSec = e.tokensPerSec;
        m.points.push({
          step: e.step,
          loss: e.loss,
          stepMs: e.stepMs,
          computeMs: e.computeMs,
          exposedCommMs: e.exposedCommMs,
          encodeMs: e.encodeMs,
          decodeMs: e.decodeMs,
          wireBytes: e.wireBytes,
          ...(e.bubbleMs !== undefined
            ? { bubbleMs: e.bubbleMs, interStageBytes: e.interStageBytes ?? 0 }
            : {}),
        });
        break;
      }
      case 'rank-log':
        s.logs.push({ rank: e.rank, method: e.method, line: e.line });
        if (s.logs.length > MAX_LOG_LINES) s.logs.splice(0, s.logs.length - MAX_LOG_LINES);
        break;
      case 'health':
        if (s.warnings.length < MAX_LIVE_WARNINGS) s.warnings.push(e.warning);
        break;
      case 'rank-exit': {
        const r = s.ranks.find((x) => x.rank === e.rank);
        if (r) Object.assign(r, { state: 'exited', code: e.code, signal: e.signal });
        break;
      }
      case 'method-end': {
        const m = method(e.summary.method);
        if (m) {
          m.status = e.summary.status;
          m.summary = e.summary;
        }
        break;
      }
      case 'run-end':
        s.status = e.summary.status;
        s.finishedAt = e.summary.finishedAt;
        s.current = undefined;
        if (e.summary.error) s.error = e.summary.error;
        // Summaries carry speedups relative to the baseline, known only at the end, and the
        // final status of every method (`not started` for those the run never reached).
        for (const ms of e.summary.methods) {
          const m = method(ms.method);
          if (m) Object.assign(m, { summary: ms, status: ms.status });
        }
        this.flush(live);
        return;
    }
    this.schedule(live);
  }

  private schedule(live: Live): void {
    live.timer ??= setTimeout(() => this.flush(live), EVENT_INTERVAL_MS);
  }

  private flush(live: Live): void {
    if (live.timer) clearTimeout(live.timer);
    live.timer = undefined;
    if (live.state.id) this.emit({ type: 'run', run: structuredClone(live.state) });
  }

  /**
   * Drops all but the latest finished runs from the live list: a long-lived app would otherwise
   * hold every run it ever started (their points and logs), and send them all to the page on
   * every refresh (benchmarks/soak measures the host's heap per run).
   */
  private forgetOldFinished(): void {
    const keep = this.opts.keepFinishedLive ?? KEEP_FINISHED_LIVE;
    const finished = [...this.live].filter(([, l]) => l.state.status !== 'running');
    for (const [id, l] of finished.slice(0, Math.max(0, finished.length - keep))) {
      if (l.timer) clearTimeout(l.timer);
      this.live.delete(id);
    }
  }

  async cancelRun(id: string): Promise<void> {
    const live = this.live.get(id);
    if (!live) throw new Error(`run "${id}" is not running in this app`);
    if (live.state.status !== 'running') return;
    live.handle.cancel();
  }

  async liveRuns(): Promise<LiveRun[]> {
    return [...this.live.values()].map((l) => structuredClone(l.state)).reverse();
  }

  /** True while a run started here is still going (the app asks before quitting). */
  get busy(): boolean {
    return [...this.live.values()].some((l) => l.state.status === 'running');
  }

  /** Cancels every running run and waits for them to end. */
  async cancelAll(): Promise<void> {
    const running = [...this.live.values()].filter((l) => l.state.status === 'running');
    for (const l of running) l.handle.cancel();
    await Promise.allSettled(running.map((l) => l.handle.done));
  }

  async listRuns(): Promise<RunListEntry[]> {
    return (await this.runs.list()).map((r) => ({
      id: r.id,
      profile: r.profile,
      engine: r.engine,
      status: r.status,
      methods: r.methods,
      ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
      ...(r.error ? { error: r.error } : {}),
    }));
  }

  async getRun(id: string): Promise<RunView> {
    const [detail, entry] = await Promise.all([this.runs.get(id), this.runs.describe(id)]);
    const profile = ProfileSchema.safeParse(
      typeof detail.config?.profile === 'object' ? detail.config.profile : undefined,
    );
    const steps: Record<string, StepPoint[]> = {};
    const wall = new Map<string, number>();
    for (const a of aggregateSteps(detail.metrics)) {
      const t = (wall.get(a.method) ?? 0) + a.stepMs;
      wall.set(a.method, t);
      (steps[a.method] ??= []).push({
        step: a.step,
        loss: a.loss,
        stepMs: a.stepMs,
        computeMs: a.computeMs,
        exposedCommMs: a.exposedCommMs,
        encodeMs: a.encodeMs,
        decodeMs: a.decodeMs,
        wireBytes: a.wireBytes,
        rawBytes: a.rawBytes,
        ...(a.relError !== undefined ? { relError: a.relError } : {}),
        ...(a.bubbleMs !== undefined
          ? { bubbleMs: a.bubbleMs, interStageBytes: a.interStageBytes ?? 0 }
          : {}),
        wallSec: t / 1000,
      });
    }
    const problems = [...detail.errors, ...detail.corruptSamples];
    if (detail.corruptLines > detail.corruptSamples.length)
      problems.push(`${detail.corruptLines} damaged metrics lines skipped in all`);
    return {
      id,
      status: entry.status,
      ...(profile.success ? { profile: profile.data } : {}),
      ...(detail.summary ? { summary: detail.summary } : {}),
      steps,
      warnings: detail.metrics.flatMap((m) => m.warnings ?? []),
      problems,
    };
  }

  async deleteRun(id: string): Promise<void> {
    if (this.live.get(id)?.state.status === 'running')
      throw new Error(`run "${id}" is still running; cancel it first`);
    await this.runs.delete(id);
    this.live.delete(id);
    this.emit({ type: 'runs-changed' });
  }

  async exportCsv(id: string, kind: 'steps' | 'summary'): Promise<CsvExport> {
    const detail = await this.runs.get(id);
    if (kind === 'summary') {
      if (!detail.summary) throw new Error(`run "${id}" has no summary yet`);
      return { filename: `${id}-summary.csv`, text: summaryCsv(detail.summary) };
    }
    return { filename: `${id}-steps.csv`, text: stepsCsv(detail.metrics) };
  }

  async projectRun(
    id: string,
    cluster?: string | Record<string, unknown>,
  ): Promise<ProjectionView> {
    const { readRunProfiles, readPrediction, projectRun, resolveCluster, CLUSTER_PRESET_NAMES } =
      await import('../projection/index.js');
    const entry = await this.runs.describe(id);
    const measured = await readRunProfiles(entry.dir);
    const prediction = await readPrediction(entry.dir);
    return {
      // null arrives from transports that carry an absent argument as JSON.
      projection: projectRun(measured, cluster == null ? undefined : resolveCluster(cluster)),
      presets: CLUSTER_PRESET_NAMES.map((name) => resolveCluster(name)),
      ...(prediction ? { prediction } : {}),
    };
  }

  async rankLogs(id: string): Promise<RankLog[]> {
    const dir = path.join(this.runs.runDir(id), 'ranks');
    const files = (await readdir(dir).catch(() => [] as string[]))
      .filter((f) => /^\d+\.log$/.test(f))
      .sort((a, b) => parseInt(a) - parseInt(b));
    return Promise.all(
      files.map(async (f) => {
        const text = await readFile(path.join(dir, f), 'utf8');
        return {
          rank: parseInt(f),
          text:
            text.length > MAX_RANK_LOG_BYTES
              ? `[... ${text.length - MAX_RANK_LOG_BYTES} bytes cut ...]\n${text.slice(-MAX_RANK_LOG_BYTES)}`
              : text,
        };
      }),
    );
  }
}
