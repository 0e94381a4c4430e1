/**
 * Damaged files in a real store: a saved profile cut off mid-write and a run's metrics.jsonl
 * with a torn line and garbage bytes. The stores and the CLI must say which file is damaged and
 * how, never rewrite or replace it, and keep listing and loading everything else.
 * (test/app covers the parsers on fabricated files; these use files the engine wrote.)
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiService } from '../../engine/app/api-service.js';
import { ProfilesStore } from '../../engine/app/profiles-store.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { runProfile, tempHome } from '../helpers/runs.js';
import { expectBystandersIntact, makeBystanders, nano, type Bystanders } from './helpers.js';

const { home, cleanup } = tempHome();
let bystanders: Bystanders;
afterAll(cleanup);

const gradbench = (args: string[]): Promise<CliResult> => runCli(home, args);

const sha = async (file: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

describe('a corrupt saved profile', () => {
  let file: string;
  let damaged: string;

  beforeAll(async () => {
    bystanders = await makeBystanders(home);
    file = (await new ProfilesStore(home).save(nano('victim-profile', 5))).file;
    // A write cut off halfway (what a crash without atomic writes would leave).
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, Math.floor(text.length / 2)));
    damaged = await sha(file);
  }, 60_000);

  it('is listed with its path and reason; the other profiles still list and load', async () => {
    const store = new ProfilesStore(home);
    const list = await store.list();
    const victim = list.find((e) => e.file === file)!;
    expect(victim.profile).toBeUndefined();
    expect(victim.error).toMatch(
      new RegExp(`^profile ${file} is corrupt \\(not valid JSON: .+\\); fix or delete it$`),
    );
    expect(list.find((e) => e.name === 'bystander-profile')?.profile?.train.steps).toBe(7);
    expect(list.filter((e) => e.builtin).length).toBeGreaterThan(0);
    await expect(store.get('victim-profile')).rejects.toThrow(`profile ${file} is corrupt`);
    await expectBystandersIntact(bystanders);
  });

  it('is never replaced: saving over it and running it are refused, the file is unchanged', async () => {
    const service = new ApiService({ home });
    await expect(service.saveProfile(nano('victim-profile', 9))).rejects.toThrow(
      /not replacing it; fix or delete it first/,
    );
    const runsBefore = (await service.listRuns()).length;
    await expect(service.startRun({ profileName: 'victim-profile' })).rejects.toThrow(
      `profile ${file} is corrupt`,
    );
    expect(await service.listRuns()).toHaveLength(runsBefore);
    expect(await sha(file)).toBe(damaged);
  });

  it('gradbench profiles show / list say what is wrong', async () => {
    const show = await gradbench(['profiles', 'show', 'victim-profile']);
    expect(show.code).toBe(1);
    expect(show.stderr).toContain(`profile ${file} is corrupt (not valid JSON`);
    const list = await gradbench(['profiles', 'list']);
    expect(list.code).toBe(0);
    expect(list.stderr).toContain(`gradbench: profile ${file} is corrupt (not valid JSON`);
    expect(list.stdout).toContain('bystander-profile');
    expect(await sha(file)).toBe(damaged);
  });
});

describe('a corrupt metrics file', () => {
  let id: string;
  let metricsFile: string;
  let goodLines: number;
  let damaged: string;

  beforeAll(async () => {
    const r = await runProfile(nano('victim-run', 4), home);
    expect(r.summary.status, r.summary.error).toBe('completed');
    id = r.summary.run;
    metricsFile = path.join(r.dir, 'metrics.jsonl');
    const lines = (await readFile(metricsFile, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(8); // 4 steps x 2 ranks
    // Line 2 overwritten by garbage, and the last line torn (cut mid-record).
    lines[1] = '\u0000\u0000\ufffd\ufffdgarbage';
    lines[7] = lines[7].slice(0, 40);
    goodLines = 6;
    await writeFile(metricsFile, `${lines.join('\n')}\n`);
    damaged = await sha(metricsFile);
  }, 60_000);

  it('the runs store counts and locates the bad lines, and keeps the good ones', async () => {
    const runs = new RunsStore(home);
    const detail = await runs.get(id);
    expect(detail.metrics).toHaveLength(goodLines);
    expect(detail.corruptLines).toBe(2);
    expect(detail.corruptSamples).toEqual(['line 2: not valid JSON', 'line 8: not valid JSON']);
    expect(detail.errors).toEqual([]);
    const listed = await runs.list();
    expect(listed.find((e) => e.id === id)).toMatchObject({ status: 'completed' });
    expect(listed.find((e) => e.id === bystanders.runId)).toMatchObject({ status: 'completed' });
    const view = await new ApiService({ home }).getRun(id);
    expect(view.problems).toEqual(['line 2: not valid JSON', 'line 8: not valid JSON']);
    expect(view.steps.fsdp.map((s) => s.step)).toEqual([0, 1, 2, 3]);
    expect(await sha(metricsFile)).toBe(damaged);
    await expectBystandersIntact(bystanders);
  });

  it('gradbench runs show names the file and the lines', async () => {
    const show = await gradbench(['runs', 'show', id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`metrics  ${goodLines} records`);
    expect(show.stdout).toContain(
      `${metricsFile}: 2 corrupt lines skipped (line 2: not valid JSON; line 8: not valid JSON)`,
    );
    const other = await gradbench(['runs', 'show', bystanders.runId]);
    expect(other.code).toBe(0);
    expect(other.stdout).not.toContain('corrupt');
    expect(await sha(metricsFile)).toBe(damaged);
  });
});
