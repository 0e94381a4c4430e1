/**
 * Checks made before a run spawns anything or creates its directory: does the world fit in this
 * machine's free memory and cores, and does a forced compute backend load here. A world of 64
 * ranks on 2 cores would otherwise take minutes to fail (every rank loads tfjs: ~100 MB each).
 */
import os from 'node:os';
import { unitSpecs } from '../model/gpt.js';
import type { Profile } from '../run/profile.js';
import { modelConfig } from '../run/run-config.js';

/** Ranks per core above which a run is refused unless the limit is raised. */
export const DEFAULT_MAX_RANKS_PER_CORE = 4;
/** Raises (or lowers) the ranks-per-core limit for every launcher on this machine. */
export const RANKS_PER_CORE_ENV = 'GRADBENCH_MAX_RANKS_PER_CORE';
/** Skips the free-memory check (the estimate is deliberately generous). */
export const SKIP_MEMORY_CHECK_ENV = 'GRADBENCH_SKIP_MEMORY_CHECK';

/** What one rank of a nano run holds before its model: Node, tfjs, the comm worker (measured RSS ~110 MB). */
const RANK_RUNTIME_BYTES = 128 * 1024 * 1024;
/** Character corpora have at most this many symbols; the estimate assumes the largest. */
const CORPUS_VOCAB_BOUND = 256;
const F32 = 4;

/** A run refused before it started; the message names the limit and how to override it. */
export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface RankMemoryEstimate {
  params: number;
  runtimeBytes: number;
  modelBytes: number;
  optimizerBytes: number;
  activationBytes: number;
  commBytes: number;
  totalBytes: number;
}

/**
 * Bytes one rank needs, counted generously: the whole model in fp32 with its gradients (a rank
 * gathers every unit in turn and NO_SHARD keeps them all), AdamW's two moments of its shard,
 * each layer's activations kept for backward (about 16 values per token and channel, plus the
 * logits and their gradient), and send/receive buffers the size of the model.
 */
export function estimateRankMemory(profile: Profile): RankMemoryEstimate {
  const cfg = modelConfig(profile, CORPUS_VOCAB_BOUND);
  const params = unitSpecs(cfg)
    .flatMap((u) => u.params)
    .reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const shards = profile.parallel.sharding === 'NO_SHARD' ? 1 : profile.parallel.worldSize;
  const tokens = profile.train.batchPerRank * cfg.seqLen;
  const modelBytes = 2 * params * F32;
  const optimizerBytes = Math.ceil((3 * params) / shards) * F32;
  const activationBytes = tokens * (16 * cfg.dModel * cfg.layers + 2 * cfg.vocab) * F32;
  const commBytes = 2 * params * F32;
  return {
    params,
    runtimeBytes: RANK_RUNTIME_BYTES,
    modelBytes,
    optimizerBytes,
    activationBytes,
    commBytes,
    totalBytes: RANK_RUNTIME_BYTES + modelBytes + optimizerBytes + activationBytes + commBytes,
  };
}

export interface MachineLimits {
  cores: number;
  freeBytes: number;
  maxRanksPerCore: number;
  checkMemory: boolean;
}

/** This machine's cores and free memory, and the limits the environment sets. */
export function machineLimits(env: NodeJS.ProcessEnv = process.env): MachineLimits {
  const raw = env[RANKS_PER_CORE_ENV];
  let maxRanksPerCore = DEFAULT_MAX_RANKS_PER_CORE;
  if (raw !== undefined && raw !== '') {
    if (!/^\d+$/.test(raw) || Number(raw) < 1)
      throw new PreflightError(`${RANKS_PER_CORE_ENV} must be a whole number >= 1, got "${raw}"`);
    maxRanksPerCore = Number(raw);
  }
  return {
    cores: os.availableParallelism(),
    freeBytes: os.freemem(),
    maxRanksPerCore,
    checkMemory: env[SKIP_MEMORY_CHECK_ENV] !== '1',
  };
}

const mib = (bytes: number): string => `${Math.ceil(bytes / (1024 * 1024))} MiB`;

/** Why this machine cannot hold the profile's world, or undefined when it can. */
export function capacityProblem(profile: Profile, limits: MachineLimits): string | undefined {
  const world = profile.parallel.worldSize;
  const cap = limits.cores * limits.maxRanksPerCore;
  if (world > cap) {
    return `a world of ${world} ranks puts ${(world / limits.cores).toFixed(1)} ranks on each of this machine's ${limits.cores} cores; the limit is ${limits.maxRanksPerCore} per core (at most ${cap} ranks here). Lower parallel.worldSize (--world), or raise the limit with ${RANKS_PER_CORE_ENV}=<ranks per core>`;
  }
  if (!limits.checkMemory) return undefined;
  const need = estimateRankMemory(profile).totalBytes * world;
  if (need > limits.freeBytes) {
    return `a world of ${world} ranks needs about ${mib(need)} (${mib(need / world)} per rank: runtime, model, optimizer, activations, comm buffers) but ${mib(limits.freeBytes)} is free; lower parallel.worldSize (--world), the model or train.batchPerRank, or skip this check with ${SKIP_MEMORY_CHECK_ENV}=1`;
  }
  return undefined;
}

/** A forced backend must load here; probed once, in the launcher, before any rank starts. */
async function backendProblem(choice: Profile['backend']): Promise<string | undefined> {
  if (choice === 'auto') return undefined;
  // Loaded on demand: tfjs takes a second to import and 'auto' runs never need it here.
  const { probeBackends } = await import('../model/backend.js');
  const probes = (await probeBackends()).filter((p) => p.backend === choice);
  if (probes.some((p) => p.available)) return undefined;
  const why = probes.map((p) => `${p.name}: ${p.detail}`).join('; ');
  return `backend "${choice}" is not available on this machine (${why}); set "backend" (--backend) to another one or "auto"`;
}

/** Throws PreflightError when the run cannot start here; nothing is spawned or written. */
export async function preflight(
  profile: Profile,
  limits: MachineLimits = machineLimits(),
): Promise<void> {
  const problem = capacityProblem(profile, limits) ?? (await backendProblem(profile.backend));
  if (problem) throw new PreflightError(problem);
}
