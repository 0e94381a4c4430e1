/**
 * Closing the window mid-run, with the decision Electron's main process uses (CloseGuard) over the
 * real ApiService and real ranks: confirm cancels the run and quits only once every rank is gone
 * (also a stuck rank, which ignores SIGTERM); decline keeps the run going. The browser page going
 * away mid-run is covered by test/ui/app.e2e.test.ts (a reload finds the run still going).
 */
import { describe, expect, it } from 'vitest';
import type { LiveRun } from '../../engine/app/api.js';
import { ApiService } from '../../engine/app/api-service.js';
import { pidAlive } from '../../engine/launch/local-ranks.js';
import { rankChildren } from '../../engine/launch/process-table.js';
import { CloseGuard } from '../../electron/main/close-guard.js';
import { until } from '../helpers/ranks.js';
import { expectBystandersIntact, expectNoProcessLeft, bystanderHome, nano } from './helpers.js';

const { home, bystanders } = bystanderHome();

const GRACE_MS = 1500;

/** Starts a long nano run on `service` and resolves once it has completed `steps` steps. */
async function runningRun(
  service: ApiService,
  name: string,
  steps = 1,
): Promise<{ id: string; latest: () => LiveRun }> {
  let latest: LiveRun | undefined;
  service.onEvent((e) => {
    if (e.type === 'run' && e.run.profile === name) latest = e.run;
  });
  const started = await service.startRun({ profile: nano(name, 2000) });
  await until(() => (latest?.methods[0]?.step ?? 0) >= steps, 30_000, `${name} to run`);
  return { id: started.id, latest: () => latest! };
}

async function finalStatus(service: ApiService, id: string): Promise<string> {
  return (await service.listRuns()).find((r) => r.id === id)!.status;
}

describe('closing the window while a benchmark runs', () => {
  it('with nothing running closes at once, without asking', () => {
    const service = new ApiService({ home });
    let asked = 0;
    const guard = new CloseGuard(service, { confirm: () => (asked++, true), quit: () => {} });
    expect(guard.request()).toBe(false);
    expect(asked).toBe(0);
  });

  it('declined: the close is prevented and the run keeps going', async () => {
    const service = new ApiService({ home, runOptions: { cancelGraceMs: GRACE_MS } });
    const run = await runningRun(service, 'close-declined');
    let quits = 0;
    const guard = new CloseGuard(service, { confirm: () => false, quit: () => quits++ });
    expect(guard.request()).toBe(true);
    const stepAtClose = run.latest().methods[0].step;
    await until(
      () => run.latest().methods[0].step >= stepAtClose + 3,
      30_000,
      'the run to go on after the declined close',
    );
    expect(run.latest().status).toBe('running');
    expect(quits).toBe(0);
    const pids = run.latest().ranks.map((r) => r.pid);
    expect(pids.every(pidAlive)).toBe(true);
    await service.cancelAll();
    await expectNoProcessLeft(pids);
  });

  it('confirmed: the run ends cancelled, then the app quits, no process left', async () => {
    const service = new ApiService({ home, runOptions: { cancelGraceMs: GRACE_MS } });
    const run = await runningRun(service, 'close-confirmed');
    const pids = run.latest().ranks.map((r) => r.pid);
    let asked = 0;
    const quitWith: { alive: number[]; status: string }[] = [];
    const guard = new CloseGuard(service, {
      confirm: () => (asked++, true),
      quit: () => quitWith.push({ alive: pids.filter(pidAlive), status: run.latest().status }),
    });
    expect(guard.request()).toBe(true);
    // A second close (the app's before-quit, another window) while cancelling waits too.
    expect(guard.request()).toBe(true);
    expect(asked).toBe(1);
    await guard.closing;
    expect(quitWith).toEqual([{ alive: [], status: 'cancelled' }]);
    expect(await finalStatus(service, run.id)).toBe('cancelled');
    expect(guard.request()).toBe(false);
    await expectNoProcessLeft(pids);
    await expectBystandersIntact(bystanders());
  });

  it('confirmed with a stuck rank: quits only after the SIGKILL that follows SIGTERM', async () => {
    const service = new ApiService({
      home,
      runOptions: { cancelGraceMs: GRACE_MS, env: { GRADBENCH_FAULT: 'hang:1:2' } },
    });
    const run = await runningRun(service, 'close-stuck', 2);
    // Rank 1 is now blocked at step 2; its SIGTERM handler can never run.
    const pids = run.latest().ranks.map((r) => r.pid);
    let quitAt = 0;
    let aliveAtQuit: number[] = [];
    const guard = new CloseGuard(service, {
      confirm: () => true,
      quit: () => {
        quitAt = Date.now();
        aliveAtQuit = [...pids.filter(pidAlive), ...rankChildren()];
      },
    });
    const closedAt = Date.now();
    expect(guard.request()).toBe(true);
    await guard.closing;
    expect(aliveAtQuit).toEqual([]);
    expect(quitAt - closedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(await finalStatus(service, run.id)).toBe('cancelled');
    await expectNoProcessLeft(pids);
    await expectBystandersIntact(bystanders());
  });
});
