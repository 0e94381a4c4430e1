import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRun, type RunEvent, type StartRunOptions } from '../../engine/app/launcher.js';
import type { RunSummary } from '../../engine/run/metrics.js';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';

export function tempHome(): { home: string; cleanup: () => void } {
  const home = mkdtempSync(path.join(os.tmpdir(), 'gradbench-test-'));
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export interface RunResult {
  summary: RunSummary;
  dir: string;
  events: RunEvent[];
  pids: number[];
}

/** Runs a profile through the real launcher (real rank processes) and collects its events. */
export async function runProfile(
  input: ProfileInput,
  home: string,
  opts: Pick<StartRunOptions, 'env' | 'stallTimeoutMs' | 'cancelGraceMs'> & {
    onEvent?: (e: RunEvent, cancel: () => void) => void;
  } = {},
): Promise<RunResult> {
  const events: RunEvent[] = [];
  const pids: number[] = [];
  let cancel = (): void => undefined;
  const handle = await startRun(parseProfile(input), {
    home,
    env: opts.env,
    stallTimeoutMs: opts.stallTimeoutMs,
    cancelGraceMs: opts.cancelGraceMs,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'ranks-started') pids.push(...e.pids);
      opts.onEvent?.(e, cancel);
    },
  });
  cancel = handle.cancel;
  const summary = await handle.done;
  return { summary, dir: handle.dir, events, pids };
}

/** Mean loss per step over ranks, from progress events of one method. */
export function lossCurve(events: RunEvent[], method = 'fsdp'): number[] {
  return events
    .filter(
      (e): e is Extract<RunEvent, { type: 'progress' }> =>
        e.type === 'progress' && e.method === method,
    )
    .map((e) => e.loss);
}
