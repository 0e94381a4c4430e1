/**
 * "Will it help?" before a run: the probe's compute per step and link bus bandwidth, each
 * method's payload and coding cost measured on a synthetic gradient in this process, fed to the
 * same projection that explains measured runs. After the run: predicted and measured side by side.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatDuration, formatNumber, table } from '../util/format.js';
import type { RunSummary } from '../run/metrics.js';
import type { Profile } from '../run/profile.js';
import {
  hpzOf,
  methodKey,
  paramCommOf,
  resolveMethods,
  type RunMethod,
} from '../run/run-config.js';
import { paramCommRatio } from '../compress/param-codec.js';
import { methodInfo } from '../compress/registry.js';
import { gaussian } from '../util/rng.js';
import { measuredCluster, methodProfile, ownRounds, patternOf, profileShape } from './extract.js';
import { projectMethods } from './project.js';
import { probeProfile, type ProbeResult } from './probe.js';
import type { ClusterSpec, ReducePattern, RunPrediction } from '../run/projection-types.js';

/** Elements of the synthetic gradient the codecs are timed on. */
const SAMPLE = 1 << 18;

export type Prediction = RunPrediction;

/** Payload ratio and coding ms per parameter of one method, on a Gaussian vector. */
export function codecEstimate(
  m: RunMethod,
  pattern: ReducePattern,
  world: number,
): { payloadRatio: number; codecMsPerParam: number } {
  if (pattern === 'fsdp') return { payloadRatio: 1, codecMsPerParam: 0 };
  const c = methodInfo(m.id).create(m.params, {
    world,
    warmupSteps: 0,
    gradClip: 1,
  });
  const next = gaussian(7);
  const g = Float32Array.from({ length: SAMPLE }, () => 1e-3 * next());
  const parts = pattern === 'all-to-all' ? world : 1;
  const len = SAMPLE / parts;
  const ctx = (j: number) => ({ key: `p/${j}`, step: 0, rank: 0, sharedSeed: 1, localSeed: 2 });
  const t0 = performance.now();
  let bytes = 0;
  for (let j = 0; j < parts; j++) {
    const enc = c.encode(g.subarray(j * len, (j + 1) * len), ctx(j));
    bytes += enc.byteLength;
    c.decode(enc, len, ctx(j));
  }
  return { payloadRatio: bytes / (SAMPLE * 4), codecMsPerParam: (performance.now() - t0) / SAMPLE };
}

/** The profile's link, with the ring tier replaced by the probe's measured bus bandwidth. */
function probedCluster(profile: Profile, probe: ProbeResult): ClusterSpec {
  const c = measuredCluster(profile);
  if (probe.ranks < 2 || probe.busGbps <= 0) return c;
  const tier = c.nodes > 1 ? 'inter' : 'intra';
  return {
    ...c,
    name: 'probed',
    description: `${c.description}; ${tier}-node ring at the probed ${formatNumber(probe.busGbps, 3)} Gb/s`,
    [tier]: { ...c[tier], gbps: probe.busGbps },
  };
}

export function predictFromProbe(profile: Profile, probe: ProbeResult): Prediction {
  const shape = profileShape(profile);
  const world = shape.layout.world;
  const skipped: string[] = [];
  const profiles = resolveMethods(profile).flatMap((m) => {
    const pattern = patternOf(m.id, m.params);
    if (ownRounds(m.id, m.params)) {
      skipped.push(methodKey(m));
      return [];
    }
    const est = codecEstimate(m, pattern, world);
    const codecMs = est.codecMsPerParam * shape.params;
    return [
      methodProfile(shape, {
        method: methodKey(m),
        id: m.id,
        label: m.label,
        pattern,
        computeMs: (probe.meanComputeMs ?? probe.computeMs) + codecMs,
        ...(probe.skewPerSqrtMs ? { skewPerSqrtMs: probe.skewPerSqrtMs } : {}),
        codecMs,
        payloadRatio: est.payloadRatio,
        wireRatio: est.payloadRatio,
        paramRatio: paramCommRatio(paramCommOf(profile, m)),
        hpz: hpzOf(profile, m),
      }),
    ];
  });
  const cluster = probedCluster(profile, probe);
  const inputs = [
    probe.meanComputeMs === undefined
      ? `compute: ${formatDuration(probe.computeMs)} per step, the slowest of ${probe.ranks} ranks each running the whole model for 3 steps at once (no communication)`
      : `compute: ${formatDuration(probe.meanComputeMs)} per step on average over ${probe.ranks} ranks each running the whole model for 3 steps at once (no communication; the slowest ${formatDuration(probe.computeMs)}), their spread taken as rank skew`,
    `link: ring all-reduce of ${formatNumber(probe.allReduceBytes / 1048576, 2)} MiB over the profile's link in ${formatDuration(probe.allReduceMs)}: bus bandwidth ${formatNumber(probe.busGbps, 3)} Gb/s`,
    `payload and coding: each codec on a ${SAMPLE}-element Gaussian vector in this process`,
    ...(skipped.length
      ? [
          `not predicted before the run (payload exists only inside its rounds): ${skipped.join(', ')}`,
        ]
      : []),
  ];
  const methods = profiles.some((p) => p.id === 'fsdp') ? projectMethods(profiles, cluster) : [];
  return { probe, cluster, inputs, methods, skipped };
}

/** Probes the box and link for `profile`, then predicts every method. */
export async function predictBeforeRun(profile: Profile): Promise<Prediction> {
  return predictFromProbe(profile, await probeProfile(profile, { emulateLink: true }));
}

const x = (v: number | undefined): string => (v === undefined ? '-' : `${formatNumber(v, 2)}x`);

export function predictionText(p: Prediction, summary?: RunSummary): string {
  const measured = (key: string) => summary?.methods.find((m) => m.method === key);
  const header = ['METHOD', 'PREDICTED STEP', 'PREDICTED VS FSDP', 'PREDICTED VS BF16'];
  if (summary) header.push('MEASURED STEP', 'MEASURED VS FSDP', 'ERROR');
  const rows = p.methods.map((m) => {
    const row = [m.label, formatDuration(m.stepMs), x(m.speedupVsFsdp), x(m.speedupVsBf16)];
    const s = measured(m.method);
    if (summary)
      row.push(
        formatDuration(s?.meanStepMs),
        x(s?.speedupVsBaseline),
        s?.meanStepMs !== undefined
          ? `${formatNumber((100 * (m.stepMs - s.meanStepMs)) / s.meanStepMs, 1)} %`
          : '-',
      );
    return row;
  });
  return [
    summary ? 'prediction (before the run) vs measured:' : 'prediction before the run:',
    table(header, rows, { align: ['l', ...header.slice(1).map(() => 'r' as const)] }),
    'inputs:',
    ...p.inputs.map((i) => `  - ${i}`),
  ].join('\n');
}

/** Keeps the prediction beside the run's results (prediction.json). */
export async function savePrediction(dir: string, p: Prediction): Promise<void> {
  await writeFile(path.join(dir, 'prediction.json'), `${JSON.stringify(p, null, 2)}\n`);
}

/** The run's prediction.json, if `gradbench run --predict` wrote one (undefined if absent or unreadable). */
export async function readPrediction(dir: string): Promise<Prediction | undefined> {
  try {
    const p = JSON.parse(await readFile(path.join(dir, 'prediction.json'), 'utf8')) as Prediction;
    return Array.isArray(p.methods) && Array.isArray(p.inputs) ? p : undefined;
  } catch {
    return undefined;
  }
}
