/**
 * The launcher itself killed with SIGKILL (an out-of-memory kill, a closed terminal): its ranks
 * stop on their own, and the first reader of the store records the run as interrupted, once,
 * with what metrics.jsonl holds of the method that was running; every reader and command agrees.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunSummarySchema } from '../../engine/run/metrics.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { compiledFile } from '../../engine/util/runtime-path.js';
import { GRADBENCH_BIN, runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/runs.js';
import { nano } from './helpers.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

async function until<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Rank processes (of any parent) working for run directory `dir`, from /proc. */
function ranksOf(dir: string): number[] {
  const script = compiledFile('engine/rank.ts');
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        return cmd.includes(script) && env.includes(`GRADBENCH_RUN_DIR=${dir}`);
      } catch {
        return false; // exited while we looked, or not ours to read
      }
    })
    .map(Number);
}

const metricLines = (dir: string): number => {
  const file = path.join(dir, 'metrics.jsonl');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
};

describe.skipIf(!existsSync('/proc/self/environ'))('a launcher killed with SIGKILL', () => {
  it('leaves a run that every reader records and shows as interrupted, once', async () => {
    const profile = path.join(home, 'long.json');
    writeFileSync(profile, JSON.stringify(nano('killed', 500, 2, { methods: [{ id: 'fp16' }] })));
    const launcher = spawn(process.execPath, [GRADBENCH_BIN, 'run', profile], {
      env: { ...process.env, GRADBENCH_HOME: home },
      stdio: 'ignore',
    });
    const closed = new Promise((r) => launcher.once('close', r));
    const runs = path.join(home, 'runs');
    const dir = await until('the run directory', () => {
      const ids = existsSync(runs) ? readdirSync(runs) : [];
      return ids.length ? path.join(runs, ids[0]) : undefined;
    });
    // Two steps of both ranks recorded: the baseline is under way.
    await until('two steps', () => (metricLines(dir) >= 4 ? true : undefined));
    launcher.kill('SIGKILL');
    await closed;

    // The orphaned ranks notice that their launcher is gone and stop.
    await until('the ranks to stop', () => (ranksOf(dir).length === 0 ? true : undefined), 15_000);

    // Several readers at once; one of them records it.
    const id = path.basename(dir);
    const [listed, detail, described] = await Promise.all([
      new RunsStore(home).list(),
      new RunsStore(home).get(id),
      new RunsStore(home).describe(id),
    ]);
    expect(listed.find((e) => e.id === id)?.status).toBe('interrupted');
    expect(described.status).toBe('interrupted');
    expect(detail.errors).toEqual([]);
    const text = readFileSync(path.join(dir, 'summary.json'), 'utf8');
    const saved = RunSummarySchema.parse(JSON.parse(text));
    expect(detail.summary).toEqual(saved);
    expect(saved.status).toBe('interrupted');
    expect(saved.error).toContain(`the launcher (pid ${launcher.pid}) ended without finishing`);
    const [fsdp, fp16] = saved.methods;
    expect(fsdp).toMatchObject({ method: 'fsdp', status: 'failed' });
    expect(fsdp.steps).toBeGreaterThanOrEqual(2);
    expect(fsdp.finalLoss).toBeGreaterThan(0);
    expect(fp16).toEqual({ method: 'fp16', label: 'fp16', status: 'not started', steps: 0 });

    // Recorded once: later readers find it done and leave the file as it is.
    await new RunsStore(home).list();
    expect(readFileSync(path.join(dir, 'summary.json'), 'utf8')).toBe(text);

    const cliList = await runCli(home, ['runs', 'list']);
    expect(cliList.stdout).toMatch(
      new RegExp(`^${id}\\s+killed\\s+builtin\\s+interrupted\\s`, 'm'),
    );
    const shown = await runCli(home, ['runs', 'show', id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('status   interrupted: the launcher');
  });
});
