/**
 * The one API the renderer sees (`GradBenchApi`), with two transports: Electron IPC (preload) and
 * the `gradbench serve` bridge (HTTP + WebSocket on 127.0.0.1). Browser-safe on purpose: types and
 * pure functions only, so the renderer bundles this file as is.
 *
 * Every call is `name(args...)`: a transport only has to carry `{ call, args }` one way and a
 * result or an error message back, plus a stream of `ApiEvent`s.
 */
import type { BackendProbe } from '../model/backend-probe.js';
import type { TorchOption, TorchProbe } from '../torch/torch-probe.js';
import type {
  FieldIssue,
  LinkSpecDoc,
  MethodDoc,
  ModelDoc,
  ProfileDoc,
  TierDoc,
} from '../run/profile-doc.js';
import type {
  HealthWarning,
  MethodStatus,
  MethodSummary,
  MetricLine,
  RunStatus,
  RunSummary,
} from '../run/metrics.js';
import type { ClusterSpec, RunPrediction, RunProjection } from '../run/projection-types.js';

export type { BackendProbe, FieldIssue, LinkSpecDoc, MethodDoc, ModelDoc, ProfileDoc, TierDoc };
export type { TorchOption, TorchProbe };
export type { HealthWarning, MethodStatus, MethodSummary, MetricLine, RunStatus, RunSummary };

export interface VersionInfo {
  name: string;
  version: string;
  node: string;
  /** Where profiles and runs are stored. */
  dataDir: string;
}

export interface CpuInfo {
  manufacturer: string;
  brand: string;
  cores: number;
  physicalCores: number;
  /** Base clock in GHz; 0 when the OS does not report it. */
  speedGHz: number;
}

export interface GpuInfo {
  model: string;
  vendor: string;
  /** Dedicated memory in MiB, when known. */
  vramMB?: number;
  driver?: string;
}

export interface HardwareInfo {
  cpu?: CpuInfo;
  memory?: { totalBytes: number; availableBytes: number };
  gpus?: GpuInfo[];
  os?: { platform: string; distro: string; release: string; arch: string };
  node: { version: string; v8: string };
  backends?: BackendProbe[];
  /** The PyTorch engine: interpreter, torch, CUDA, NCCL and which options run here. */
  torch?: TorchProbe;
  /** Parts that could not be gathered and why, e.g. `gpus: timed out after 10 s`. */
  missing: string[];
  /** When this was gathered (ISO time). */
  scannedAt?: string;
}

export interface ProfileListEntry {
  name: string;
  builtin: boolean;
  description?: string;
  profile?: ProfileDoc;
  /** Why a saved file could not be used (it is listed, never silently dropped). */
  error?: string;
}

export type Validation = { ok: true; profile: ProfileDoc } | { ok: false; issues: FieldIssue[] };

/** One parameter of a method, enough to render and check a form field. */
export interface ParamField {
  name: string;
  kind: 'number' | 'integer' | 'enum' | 'boolean' | 'string';
  default?: unknown;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive lower bound (`> 0`). */
  above?: number;
  options?: string[];
  description?: string;
}

export interface MethodCatalogEntry {
  id: string;
  label: string;
  description: string;
  pattern: string;
  defaultErrorFeedback: string;
  params: ParamField[];
}

/** What the run designer offers. */
export interface Catalog {
  methods: MethodCatalogEntry[];
  modelPresets: string[];
  linkPresets: ({ name: string } & LinkSpecDoc)[];
  sharding: string[];
  backends: string[];
  /** Who trains: 'builtin' or 'pytorch'. */
  engines: string[];
  corpora: string[];
  errorFeedback: string[];
}

/** A method of a live run, as the Live page shows it. */
export type MethodPhase = 'pending' | MethodStatus;

/** One step of one method: loss and times are means over ranks, stepMs the slowest rank's, wireBytes summed. */
export interface LivePoint {
  step: number;
  loss: number;
  stepMs: number;
  computeMs: number;
  exposedCommMs: number;
  encodeMs: number;
  decodeMs: number;
  wireBytes: number;
  /** Pipeline runs: mean per-stage bubble and inter-stage bytes (all ranks) of the step. */
  bubbleMs?: number;
  interStageBytes?: number;
}

export interface LiveMethod {
  key: string;
  label: string;
  status: MethodPhase;
  step: number;
  steps: number;
  etaSec?: number;
  tokensPerSec?: number;
  points: LivePoint[];
  summary?: MethodSummary;
}

export interface RankState {
  rank: number;
  pid?: number;
  state: 'starting' | 'running' | 'exited';
  code?: number | null;
  signal?: string | null;
}

export interface LiveRun {
  id: string;
  profile: string;
  status: RunStatus;
  startedAt: string;
  finishedAt?: string;
  error?: string;
  /** Key of the method whose ranks are running now. */
  current?: string;
  methods: LiveMethod[];
  ranks: RankState[];
  /** The latest rank output lines (not metrics), newest last. */
  logs: { rank: number; method: string; line: string }[];
  /** Numerical-health warnings so far, oldest first (the first 200 are kept). */
  warnings: HealthWarning[];
}

export interface RunListEntry {
  id: string;
  profile: string;
  /** The engine that trained it ('builtin' for runs that predate the choice). */
  engine: string;
  status: RunStatus | 'unknown';
  startedAt?: string;
  finishedAt?: string;
  methods: string[];
  error?: string;
}

/** Per-step figures of one method, aggregated over ranks (as the CSV export writes them). */
export interface StepPoint extends LivePoint {
  rawBytes: number;
  relError?: number;
  /** Wall-clock seconds since the method's first step started. */
  wallSec: number;
}

export interface RunView {
  id: string;
  profile?: ProfileDoc;
  status: RunStatus | 'unknown';
  summary?: RunSummary;
  /** Per method key: its steps in order. */
  steps: Record<string, StepPoint[]>;
  /** Numerical-health warnings of every method, in run order. */
  warnings: HealthWarning[];
  /** Damaged files and skipped metrics lines, one message each. */
  problems: string[];
}

export interface CsvExport {
  filename: string;
  text: string;
}

export interface RankLog {
  rank: number;
  text: string;
}

export type ApiEvent =
  { type: 'run'; run: LiveRun } | { type: 'runs-changed' } | { type: 'profiles-changed' };

export type { ClusterSpec, RunPrediction, RunProjection };

/** A measured run projected onto a cluster, with the presets a form can pick from. */
export interface ProjectionView {
  projection: RunProjection;
  /** The cluster presets a form can pick from. */
  presets: ClusterSpec[];
  /** The prediction made before the run (`gradbench run --predict`), when there is one. */
  prediction?: RunPrediction;
}

/** How to start a run: a saved or built-in profile by name, or a profile given in full. */
export type StartRunRequest = { profileName: string } | { profile: unknown };

export interface GradBenchApi {
  version(): Promise<VersionInfo>;
  hardware(rescan?: boolean): Promise<HardwareInfo>;
  catalog(): Promise<Catalog>;
  listProfiles(): Promise<ProfileListEntry[]>;
  validateProfile(profile: unknown): Promise<Validation>;
  /** Validates and saves; invalid input comes back as `{ ok: false, issues }`, nothing written. */
  saveProfile(profile: unknown): Promise<Validation>;
  deleteProfile(name: string): Promise<void>;
  startRun(request: StartRunRequest): Promise<LiveRun>;
  cancelRun(id: string): Promise<void>;
  /** Runs started by this app that are still going or finished since it started. */
  liveRuns(): Promise<LiveRun[]>;
  listRuns(): Promise<RunListEntry[]>;
  getRun(id: string): Promise<RunView>;
  deleteRun(id: string): Promise<void>;
  exportCsv(id: string, kind: 'steps' | 'summary'): Promise<CsvExport>;
  rankLogs(id: string): Promise<RankLog[]>;
  /**
   * Predicted step time and speedup (vs fp32 and bf16 FSDP) of a run's methods on a cluster: a
   * preset name or a description (engine/run/cluster.ts); none: the run's own links.
   */
  projectRun(id: string, cluster?: string | Record<string, unknown>): Promise<ProjectionView>;
  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: ApiEvent) => void): () => void;
}

export type ApiCallName = Exclude<keyof GradBenchApi, 'onEvent'>;

export const API_CALLS: readonly ApiCallName[] = [
  'version',
  'hardware',
  'catalog',
  'listProfiles',
  'validateProfile',
  'saveProfile',
  'deleteProfile',
  'startRun',
  'cancelRun',
  'liveRuns',
  'listRuns',
  'getRun',
  'deleteRun',
  'exportCsv',
  'rankLogs',
  'projectRun',
];

export type CallFn = (name: ApiCallName, args: unknown[]) => Promise<unknown>;

/** Builds the typed API over any transport that can carry a call and a stream of events. */
export function makeApi(
  call: CallFn,
  subscribe: (listener: (e: ApiEvent) => void) => () => void,
): GradBenchApi {
  const api: Record<string, unknown> = { onEvent: subscribe };
  for (const name of API_CALLS) api[name] = (...args: unknown[]) => call(name, args);
  return api as unknown as GradBenchApi;
}
