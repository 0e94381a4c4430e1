/**
 * Rank failures on real rank processes: a rank killed (by the injected fault, or by SIGKILL from
 * outside at a random moment), a rank that hangs, and a link that stalls. Each run must end
 * failed with an error naming the culprit, leave no process, and leave the other run and the
 * saved profile byte for byte as they were. test/engine/launcher.test.ts covers the basic crash
 * and cancel paths; these trials vary the rank and the moment.
 */
import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../engine/app/launcher.js';
import { rng } from '../../engine/util/rng.js';
import { runProfile } from '../helpers/runs.js';
import {
  SEED,
  TRIALS,
  expectBystandersIntact,
  expectEnded,
  expectNoProcessLeft,
  bystanderHome,
  nano,
} from './helpers.js';

const { home, bystanders } = bystanderHome();

const WORLD = 2;
/** Long enough that no kill can land after the last step. */
const STEPS = 40;
/** Kills happen within the first steps (or during start-up, step -1). */
const LAST_KILL_STEP = 8;

interface Trial {
  n: number;
  how: 'injected' | 'external';
  rank: number;
  /** injected: the step it crashes at; external: the step whose completion it follows (-1 = start-up). */
  step: number;
  delayMs: number;
}

const random = rng(SEED);
const pick = (n: number): number => Math.floor(random() * n);
const trials: Trial[] = Array.from({ length: TRIALS }, (_, n) => {
  const how = n % 2 === 0 ? 'injected' : 'external';
  const step = how === 'injected' ? pick(LAST_KILL_STEP + 1) : pick(LAST_KILL_STEP + 2) - 1;
  return { n, how, rank: pick(WORLD), step, delayMs: pick(step < 0 ? 1500 : 60) };
});

const title = (t: Trial): string =>
  t.how === 'injected'
    ? `trial ${t.n}: rank ${t.rank} crashes at step ${t.step} (GRADBENCH_FAULT, seed ${SEED})`
    : `trial ${t.n}: rank ${t.rank} gets SIGKILL ${t.delayMs} ms after ${t.step < 0 ? 'its start' : `step ${t.step}`} (seed ${SEED})`;

describe('a killed rank', () => {
  for (const t of trials) {
    it(title(t), async () => {
      let pids: number[] = [];
      let killed = false;
      const killLater = (): void => {
        killed = true;
        setTimeout(() => process.kill(pids[t.rank], 'SIGKILL'), t.delayMs);
      };
      const onEvent = (e: RunEvent): void => {
        if (e.type === 'ranks-started') pids = e.pids;
        if (t.how !== 'external' || killed) return;
        if (t.step < 0 ? e.type === 'ranks-started' : e.type === 'progress' && e.step === t.step)
          killLater();
      };
      const r = await runProfile(nano(`kill-${t.n}`, STEPS, WORLD), home, {
        onEvent,
        ...(t.how === 'injected' ? { env: { GRADBENCH_FAULT: `crash:${t.rank}:${t.step}` } } : {}),
      });
      await expectEnded(r, 'failed');
      expect(r.summary.error).toMatch(new RegExp(`^rank ${t.rank} was killed by SIGKILL`));
      if (t.how === 'injected')
        expect(r.summary.error).toContain(`injected fault "crash" at step ${t.step}`);
      expect(r.summary.methods[0]).toMatchObject({ method: 'fsdp', status: 'failed' });
      expect(r.summary.methods[0].steps).toBeLessThan(STEPS);
      await expectNoProcessLeft(r.pids);
      await expectBystandersIntact(bystanders());
    });
  }
});

describe('the stall watchdog', () => {
  it('names the rank that hangs, kills every rank and fails the run (timeout from the profile)', async () => {
    // health.stallTimeoutS, the profile's setting, not a launcher option.
    const r = await runProfile(nano('hang', STEPS, WORLD, { health: { stallTimeoutS: 5 } }), home, {
      env: { GRADBENCH_FAULT: 'hang:1:2' },
    });
    await expectEnded(r, 'failed');
    expect(r.summary.error).toMatch(
      /^no step completed for \d+\.\d s during FSDP.*: rank 1 \(silent for \d+\.\d s\) has stopped responding/,
    );
    expect(r.summary.error).not.toMatch(/rank 0/);
    expect(r.summary.methods[0].steps).toBe(2);
    await expectNoProcessLeft(r.pids);
    await expectBystandersIntact(bystanders());
  });

  it('tells a stalled link (every rank alive, waiting on it) from a stuck rank', async () => {
    // About 125 bytes/s between the two ranks: the first all-gather of the weights never ends.
    const stalled = { gbps: 1e-6, latencyUs: 0 };
    const r = await runProfile(
      nano('stalled-link', STEPS, WORLD, { network: { intra: stalled, inter: 'off' } }),
      home,
      // Long enough for both ranks to start, reach that gather and report what they wait on
      // (about once a second) on a loaded machine, where start-up alone can take seconds.
      { stallTimeoutMs: 8000 },
    );
    await expectEnded(r, 'failed');
    expect(r.summary.error).toMatch(
      /^no step completed for \d+\.\d s during FSDP.* although every rank still responds: the ranks are waiting on communication over the link rank 0 <-> rank 1 \(a stalled link\)/,
    );
    expect(r.summary.methods[0].steps).toBe(0);
    await expectNoProcessLeft(r.pids);
    await expectBystandersIntact(bystanders());
  });
});
