import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MethodLoadMeter, processCpuMs } from '../../engine/app/cpu-load.js';
import { loadWarning, OTHER_CPU_WARN_SHARE } from '../../engine/app/load-warning.js';
import { checkProfile } from '../../engine/run/profile.js';

/** The messages of a profile that has `patch` applied over a small valid one. */
function messages(patch: Record<string, unknown>): Record<string, string> {
  const r = checkProfile({
    name: 'p',
    model: { preset: 'nano' },
    ...patch,
  });
  return r.ok ? {} : Object.fromEntries(r.issues.map((i) => [i.path, i.message]));
}

describe('validation messages', () => {
  it('say what to enter, not what the validator expected', () => {
    const m = messages({
      train: { steps: 0, batchPerRank: 2.5, lr: 'fast', seed: 1e20 },
      parallel: { worldSize: '' },
      backend: 'abacus',
    });
    expect(m['train.steps']).toBe('must be 1 or more');
    expect(m['train.batchPerRank']).toBe('must be a whole number');
    expect(m['train.lr']).toBe('must be a number');
    expect(m['train.seed']).toBe('is too large');
    expect(m['parallel.worldSize']).toBe('is required');
    expect(m.backend).toMatch(/^must be one of "/);
    expect(Object.values(m).join(' ')).not.toMatch(/expected|>=|<=|Too small|Too big/);
  });
});

describe('load while a method runs', () => {
  it('reads a live process CPU time from /proc, and nothing for a gone one', () => {
    if (process.platform !== 'linux') return;
    expect(processCpuMs(process.pid)).toBeGreaterThanOrEqual(0);
    expect(processCpuMs(2 ** 30)).toBeUndefined();
  });

  it('counts a busy child as the run own time, not as other processes', async () => {
    if (process.platform !== 'linux') return;
    const meter = new MethodLoadMeter();
    meter.start();
    // One child spinning for a while: all of its CPU time is the "ranks'" time.
    const child = spawn(process.execPath, [
      '-e',
      'const t = Date.now() + 600; while (Date.now() < t);',
    ]);
    const exited = new Promise((r) => child.once('exit', r));
    const timer = setInterval(() => meter.sample([child.pid!]), 50);
    await exited;
    clearInterval(timer);
    const load = meter.finish();
    expect(load.otherCpuShare).toBeGreaterThanOrEqual(0);
    expect(load.otherCpuShare).toBeLessThanOrEqual(1);
    expect(load.loadAverage).toBeGreaterThanOrEqual(0);
  });

  it('warns with the figure only above the threshold', () => {
    expect(
      loadWarning({ label: 'top-k', otherCpuShare: OTHER_CPU_WARN_SHARE / 2 }),
    ).toBeUndefined();
    expect(loadWarning({ label: 'top-k' })).toBeUndefined();
    expect(loadWarning({ label: 'top-k', otherCpuShare: 0.37, loadAverage: 3.14 })).toBe(
      'top-k: other processes used 37 % of the CPU while it ran (load average 3.1)',
    );
  });
});
