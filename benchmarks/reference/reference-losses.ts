/**
 * Reference losses: trains every registered method (and the parameter-communication and
 * error-feedback variants) for a few steps on 2 real ranks with a fixed seed and prints each
 * method's per-step loss as the exact bits of the float64, one line per method. Two builds that
 * print the same text train identically; a refactoring that should not change numerics is checked
 * by diffing this output before and after.
 *
 *   npm run build:engine && node dist/benchmarks/reference/reference-losses.js > losses.txt
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRun } from '../../engine/app/launcher.js';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';
import { METHODS } from '../../engine/compress/registry.js';

const STEPS = 3;

const common = {
  model: { preset: 'nano' },
  data: { corpus: 'shakespeare', seed: 7 },
  train: { steps: STEPS, batchPerRank: 4, lr: 3e-3, warmupSteps: 1, seed: 7 },
} as const;

/** Every FSDP method at its defaults, then the variants whose code paths differ. */
const fsdpProfile: ProfileInput = {
  name: 'reference-fsdp',
  ...common,
  parallel: { worldSize: 2 },
  baselines: ['fsdp', 'bf16', 'bf16-mp'],
  methods: [
    ...METHODS.map((m) => ({ id: m.id })),
    { id: 'int8', params: { scale: 'agreed' }, label: 'int8 agreed' },
    { id: 'tagc', paramComm: 'int8', label: 'tagc+int8' },
    { id: 'fp16', paramComm: 'bf16', label: 'fp16+bf16' },
    { id: 'fsdp', paramComm: 'int8', label: 'fsdp+int8' },
    { id: 'topk', errorFeedback: { mode: 'econtrol', eta: 0.5 }, label: 'topk econtrol' },
  ],
};

/** The pipeline kind: the uncompressed pipeline baseline and Optimus-CC. */
const pipelineProfile: ProfileInput = {
  name: 'reference-pipeline',
  ...common,
  parallel: { worldSize: 2, pipelineStages: 2, sharding: 'NO_SHARD' },
  methods: [{ id: 'optimus-cc' }],
};

const bits = (x: number): string => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.toString('hex');
};

async function lossesOf(input: ProfileInput, home: string): Promise<string[]> {
  const handle = await startRun(parseProfile(input), { home });
  const summary = await handle.done;
  if (summary.status !== 'completed')
    throw new Error(`${input.name}: ${summary.status}: ${summary.error ?? ''}`);
  const lines = readFileSync(path.join(handle.dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { method: string; rank: number; step: number; loss: number });
  const byMethod = new Map<string, string[]>();
  for (const l of lines) {
    const key = `${input.name} ${l.method} rank ${l.rank}`;
    byMethod.set(key, [...(byMethod.get(key) ?? []), `${l.step}:${bits(l.loss)}`]);
  }
  return [...byMethod].map(([k, v]) => `${k} ${v.join(' ')}`).sort();
}

const home = mkdtempSync(path.join(os.tmpdir(), 'gradbench-reference-'));
try {
  for (const profile of [fsdpProfile, pipelineProfile])
    for (const line of await lossesOf(profile, home)) process.stdout.write(`${line}\n`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
