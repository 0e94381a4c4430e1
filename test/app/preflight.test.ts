/**
 * The checks before a run spawns anything: ranks per core, estimated memory, a forced backend
 * that does not load. A refused run leaves no process and no run directory behind.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRun } from '../../engine/app/launcher.js';
import {
  PreflightError,
  RANKS_PER_CORE_ENV,
  SKIP_MEMORY_CHECK_ENV,
  capacityProblem,
  estimateRankMemory,
  machineLimits,
} from '../../engine/app/preflight.js';
import { parseProfile } from '../../engine/run/profile.js';
import { probeBackends } from '../../engine/model/backend.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

const GiB = 1024 ** 3;
const profile = (world: number, model: 'nano' | 'small' = 'nano') =>
  parseProfile({ name: 'p', model: { preset: model }, parallel: { worldSize: world } });
const roomy = { cores: 2, freeBytes: 64 * GiB, maxRanksPerCore: 4, checkMemory: true };

describe('capacity', () => {
  it('refuses more ranks per core than the limit, naming the limit and the override', () => {
    expect(capacityProblem(profile(8), roomy)).toBeUndefined();
    expect(capacityProblem(profile(64), roomy)).toBe(
      `a world of 64 ranks puts 32.0 ranks on each of this machine's 2 cores; the limit is 4 per core (at most 8 ranks here). Lower parallel.worldSize (--world), or raise the limit with ${RANKS_PER_CORE_ENV}=<ranks per core>`,
    );
    expect(capacityProblem(profile(64), { ...roomy, maxRanksPerCore: 32 })).toBeUndefined();
  });

  it('refuses a world whose estimated memory is over the free memory, unless the check is skipped', () => {
    const tight = { ...roomy, freeBytes: 200 * 1024 * 1024 };
    expect(capacityProblem(profile(2), tight)).toMatch(
      new RegExp(
        `^a world of 2 ranks needs about \\d+ MiB \\(\\d+ MiB per rank: runtime, model, optimizer, activations, comm buffers\\) but 200 MiB is free; .* ${SKIP_MEMORY_CHECK_ENV}=1$`,
      ),
    );
    expect(capacityProblem(profile(2), { ...tight, checkMemory: false })).toBeUndefined();
  });

  it('estimates more memory per rank for a larger model, each part counted', () => {
    const nano = estimateRankMemory(profile(2));
    const small = estimateRankMemory(profile(2, 'small'));
    expect(small.totalBytes).toBeGreaterThan(nano.totalBytes);
    expect(small.params).toBeGreaterThan(10e6);
    expect(small.modelBytes).toBe(2 * 4 * small.params);
    const parts =
      small.runtimeBytes +
      small.modelBytes +
      small.optimizerBytes +
      small.activationBytes +
      small.commBytes;
    expect(small.totalBytes).toBe(parts);
  });

  it('reads its limit from the environment and rejects a malformed one', () => {
    expect(machineLimits({ [RANKS_PER_CORE_ENV]: '8' }).maxRanksPerCore).toBe(8);
    expect(() => machineLimits({ [RANKS_PER_CORE_ENV]: 'lots' })).toThrow(
      `${RANKS_PER_CORE_ENV} must be a whole number >= 1, got "lots"`,
    );
  });
});

const cores = os.availableParallelism();
const probes = await probeBackends();
/** A backend this machine cannot load (none where every one loads). */
const missing = (['tensorflow', 'wasm'] as const).find(
  (b) => !probes.some((p) => p.backend === b && p.available),
);

describe.skipIf(cores >= 64)('a refused run', () => {
  it('leaves no run directory (launcher) and prints one line naming the override (CLI)', async () => {
    const before = process.env[RANKS_PER_CORE_ENV];
    process.env[RANKS_PER_CORE_ENV] = '1';
    try {
      await expect(startRun(profile(cores + 1), { home })).rejects.toThrow(PreflightError);
    } finally {
      if (before === undefined) delete process.env[RANKS_PER_CORE_ENV];
      else process.env[RANKS_PER_CORE_ENV] = before;
    }
    expect(existsSync(path.join(home, 'runs'))).toBe(false);

    const r = await runCli(home, ['run', 'default', '--world', '64'], {
      env: { [RANKS_PER_CORE_ENV]: '1' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^gradbench: a world of 64 ranks .* the limit is 1 per core .*${RANKS_PER_CORE_ENV}=`,
        ),
      ),
    ]);
    expect(existsSync(path.join(home, 'runs'))).toBe(false);
  });

  it.skipIf(!missing)(
    'refuses a forced backend that does not load here, before any rank starts',
    async () => {
      const r = await runCli(home, ['run', 'default', '--backend', missing]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^gradbench: backend "${missing}" is not available on this machine \\(.*\\); set "backend" \\(--backend\\) to another one or "auto"\\n$`,
        ),
      );
      expect(existsSync(path.join(home, 'runs'))).toBe(false);
    },
  );
});
