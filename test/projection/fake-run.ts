/** A run's config and metrics lines built in memory (every rank, every step, same figures). */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricLine } from '../../engine/run/metrics.js';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';
import { resolveMethods, type RunConfig } from '../../engine/run/run-config.js';

export const FAKE_RUN_ID = '20261201-000000-projection-ab12';

export function fakeRun(
  input: ProfileInput,
  perStep: Partial<MetricLine>,
  steps = 6,
): { config: RunConfig; lines: MetricLine[] } {
  const profile = parseProfile(input);
  const methods = resolveMethods(profile);
  const config: RunConfig = {
    run: FAKE_RUN_ID,
    createdAt: new Date(0).toISOString(),
    profile,
    methods,
    versions: {},
    host: {},
  };
  const lines: MetricLine[] = [];
  for (const m of methods)
    for (let step = 0; step < steps; step++)
      for (let rank = 0; rank < profile.parallel.worldSize; rank++)
        lines.push({
          run: FAKE_RUN_ID,
          method: m.key!,
          step,
          rank,
          loss: 1,
          computeMs: 100,
          exposedCommMs: 50,
          commMs: 80,
          encodeMs: 0,
          decodeMs: 0,
          stepMs: 150,
          rawBytes: 0,
          wireBytes: 0,
          tokens: 1,
          backend: 'cpu',
          ...perStep,
        });
  return { config, lines };
}

/** Writes the fake run under `<home>/runs/<id>/`; returns its directory. */
export async function writeFakeRun(home: string, run: ReturnType<typeof fakeRun>): Promise<string> {
  const dir = path.join(home, 'runs', FAKE_RUN_ID);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(run.config));
  await writeFile(
    path.join(dir, 'metrics.jsonl'),
    run.lines.map((l) => JSON.stringify(l)).join('\n'),
  );
  return dir;
}
