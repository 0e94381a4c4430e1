/**
 * Shared pieces of the fault-injection suite: trial counts and the seed (so a failing
 * trial can be replayed), the bystanders every trial must leave untouched (a completed run and a
 * saved profile, checksummed), and the checks that a failed run left no process behind.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { RunStatus } from '../../engine/run/metrics.js';
import type { ProfileInput } from '../../engine/run/profile.js';
import { ProfilesStore } from '../../engine/app/profiles-store.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { pidAlive } from '../../engine/launch/local-ranks.js';
import { rankChildren } from '../../engine/launch/process-table.js';
import { runProfile, type RunResult, tempHome } from '../helpers/runs.js';

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a whole number, got "${v}"`);
  return Number(v);
}

/** Random rank-kill trials: GRADBENCH_FAULT_TRIALS, 20 by default and 4 under CI. */
export const TRIALS = envInt('GRADBENCH_FAULT_TRIALS', process.env.CI ? 4 : 20);
/** Seed of the trials' (rank, step, moment) choices: GRADBENCH_FAULT_SEED replays a failure. */
export const SEED = envInt('GRADBENCH_FAULT_SEED', 1);

/** The cheapest real run: nano GPT, `world` ranks, `steps` steps. */
export function nano(
  name: string,
  steps: number,
  world = 2,
  extra: Partial<ProfileInput> = {},
): ProfileInput {
  return {
    name,
    model: { preset: 'nano' },
    train: { steps, batchPerRank: 2 },
    parallel: { worldSize: world },
    ...extra,
  };
}

/** A completed run and a saved profile that no fault may damage, with their files' checksums. */
export interface Bystanders {
  home: string;
  runId: string;
  profileName: string;
  checksums: Map<string, string>;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out.sort();
}

async function checksum(files: string[]): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  for (const f of files)
    sums.set(
      f,
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex'),
    );
  return sums;
}

/**
 * A temporary data folder with bystanders made before the suite's trials (and removed after), so
 * every trial can check that nothing else in the store was touched.
 */
export function bystanderHome(): { home: string; bystanders: () => Bystanders } {
  const { home, cleanup } = tempHome();
  let made: Bystanders | undefined;
  beforeAll(async () => {
    made = await makeBystanders(home);
  }, 60_000);
  afterAll(cleanup);
  return {
    home,
    bystanders: () => {
      if (!made) throw new Error('bystanders are made in beforeAll');
      return made;
    },
  };
}

export async function makeBystanders(home: string): Promise<Bystanders> {
  const done = await runProfile(nano('bystander-run', 2), home);
  expect(done.summary.status, done.summary.error).toBe('completed');
  const profiles = new ProfilesStore(home);
  const { file } = await profiles.save(nano('bystander-profile', 7, 2));
  const files = [...(await filesUnder(done.dir)), file];
  return {
    home,
    runId: done.summary.run,
    profileName: 'bystander-profile',
    checksums: await checksum(files),
  };
}

/** Every bystander file is byte for byte as before, and both stores still read them. */
export async function expectBystandersIntact(b: Bystanders): Promise<void> {
  const now = await checksum([...b.checksums.keys()]);
  expect(now).toEqual(b.checksums);
  const runs = new RunsStore(b.home);
  expect((await runs.describe(b.runId)).status).toBe('completed');
  const detail = await runs.get(b.runId);
  expect(detail.errors).toEqual([]);
  expect(detail.corruptLines).toBe(0);
  expect((await new ProfilesStore(b.home).get(b.profileName)).train.steps).toBe(7);
}

/** The pids from 'ranks-started' are gone, and no rank process is left among our children. */
export async function expectNoProcessLeft(pids: number[]): Promise<void> {
  expect(pids.length).toBeGreaterThan(0);
  const end = Date.now() + 3000;
  while ((pids.some(pidAlive) || rankChildren().length > 0) && Date.now() < end)
    await new Promise((r) => setTimeout(r, 50));
  expect(pids.filter(pidAlive)).toEqual([]);
  expect(rankChildren()).toEqual([]);
}

/** The run ended with `status`, in what the launcher returned and in summary.json on disk. */
export async function expectEnded(r: RunResult, status: RunStatus): Promise<void> {
  expect(r.summary.status, r.summary.error).toBe(status);
  const saved = JSON.parse(await readFile(path.join(r.dir, 'summary.json'), 'utf8')) as {
    status: string;
    error?: string;
  };
  expect(saved.status).toBe(status);
  expect(saved.error).toBe(r.summary.error);
}
