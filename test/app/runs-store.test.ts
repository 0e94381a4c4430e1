import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { RunsStore, runIdTime } from '../../engine/app/runs-store.js';
import { readMetrics } from '../../engine/run/metrics-file.js';
import { tempDirs } from './helpers.js';
import { jsonl, methodSummary, metric, runSummary, writeRun } from './fixtures.js';

const newDir = tempDirs();
let home: string;
let store: RunsStore;

const DONE = '20261125-120301-default-ab12';
const LIVE = '20261126-090000-micro-cd34';
const BROKEN = '20261124-080000-nano-ef56';
const DEAD_PID = 2 ** 22 + 12345; // above Linux's pid_max: never a live process

const goodLines = [
  metric({ run: DONE, method: 'fsdp', step: 0, rank: 0 }),
  metric({ run: DONE, method: 'fsdp', step: 0, rank: 1 }),
  metric({ run: DONE, method: 'topk', step: 0, rank: 0, wireBytes: 10 }),
  metric({ run: DONE, method: 'topk', step: 0, rank: 1, wireBytes: 12 }),
];

beforeEach(async () => {
  home = await newDir();
  store = new RunsStore(home);
  await writeRun(home, DONE, {
    'config.json': { run: DONE, createdAt: '2026-11-25T12:03:00Z', profile: { name: 'default' } },
    'summary.json': runSummary(DONE, [
      methodSummary({ method: 'fsdp' }),
      methodSummary({ method: 'topk' }),
    ]),
    'metrics.jsonl': jsonl([
      goodLines[0],
      '{"run": "truncated',
      goodLines[1],
      '',
      { ...goodLines[2], loss: 'NaN' },
      goodLines[2],
      goodLines[3],
    ]),
  });
  await writeRun(home, LIVE, {
    'config.json': {
      run: LIVE,
      createdAt: '2026-11-26T09:00:00Z',
      pid: process.pid,
      profile: { name: 'micro-1gbe' },
      methods: [
        { id: 'fsdp', label: 'FSDP' },
        { id: 'powersgd', label: 'PowerSGD' },
      ],
    },
  });
  await writeRun(home, BROKEN, {
    'config.json': '{"run": "',
    'summary.json': JSON.stringify({ run: BROKEN, status: 'exploded' }),
  });
  await writeFile(path.join(home, 'runs', 'stray-file.txt'), 'not a run');
});

describe('RunsStore.list', () => {
  it('lists runs newest first with profile, status, start and methods', async () => {
    const runs = await store.list();
    expect(runs.map((r) => r.id)).toEqual([LIVE, DONE, BROKEN]);
    expect(runs[0]).toMatchObject({
      profile: 'micro-1gbe',
      status: 'running',
      startedAt: '2026-11-26T09:00:00Z',
      methods: ['fsdp', 'powersgd'],
      dir: path.join(home, 'runs', LIVE),
    });
    expect(runs[0].error).toBeUndefined();
    expect(runs[1]).toMatchObject({
      profile: 'default',
      status: 'completed',
      startedAt: '2026-11-25T12:03:01.000Z',
      methods: ['fsdp', 'topk'],
    });
  });

  it('reports corrupt summary and config files in `error` instead of throwing', async () => {
    const broken = (await store.list()).find((r) => r.id === BROKEN)!;
    expect(broken.status).toBe('unknown');
    expect(broken.profile).toBe('?');
    expect(broken.error).toContain(path.join(home, 'runs', BROKEN, 'summary.json'));
    expect(broken.error).toMatch(/status: /);
    expect(broken.error).toMatch(/config\.json is corrupt/);
  });

  it('tells an interrupted run from a live one by its driver pid', async () => {
    await writeRun(home, LIVE, {
      'config.json': { run: LIVE, pid: DEAD_PID, profile: 'micro-1gbe' },
      'summary.json': runSummary(LIVE, [], { status: 'running', profile: 'micro-1gbe' }),
    });
    const live = (await store.list()).find((r) => r.id === LIVE)!;
    expect(live.status).toBe('interrupted');
    // Recorded in the file, so the run view and every later reader agree.
    expect((await store.get(LIVE)).summary?.status).toBe('interrupted');
    expect((await store.describe(LIVE)).status).toBe('interrupted');
  });

  it('records a run whose launcher died before its first summary as interrupted, methods not started', async () => {
    const id = '20261128-000000-early-0000';
    await writeRun(home, id, {
      'config.json': {
        run: id,
        pid: DEAD_PID,
        profile: { name: 'early' },
        methods: [
          { id: 'fsdp', key: 'fsdp', label: 'FSDP (fp32)', params: {} },
          { id: 'int8', key: 'int8', label: 'int8', params: {} },
        ],
      },
    });
    const run = await store.get(id);
    expect(run.errors).toEqual([]);
    expect(run.summary).toMatchObject({ status: 'interrupted', profile: 'early' });
    expect(run.summary?.methods.map((m) => [m.method, m.status])).toEqual([
      ['fsdp', 'not started'],
      ['int8', 'not started'],
    ]);
  });

  it('treats a run without summary or pid as running only while its files are fresh', async () => {
    const id = '20261127-000000-x-0000';
    const dir = await writeRun(home, id, { 'config.json': { run: id, profile: 'x' } });
    expect((await store.list()).find((r) => r.id === id)?.status).toBe('running');
    const { utimes } = await import('node:fs/promises');
    const old = new Date(Date.now() - 3600_000);
    await utimes(path.join(dir, 'config.json'), old, old);
    expect((await store.list()).find((r) => r.id === id)?.status).toBe('unknown');
  });

  it('is empty when there is no runs directory', async () => {
    expect(await new RunsStore(path.join(home, 'nowhere')).list()).toEqual([]);
  });
});

describe('RunsStore.get', () => {
  it('returns config, summary and valid metrics; counts corrupt lines', async () => {
    const run = await store.get(DONE);
    expect(run.config?.profile).toEqual({ name: 'default' });
    expect(run.summary?.methods.map((m) => m.method)).toEqual(['fsdp', 'topk']);
    expect(run.metrics).toEqual(goodLines);
    expect(run.corruptLines).toBe(2);
    expect(run.corruptSamples).toEqual([
      'line 2: not valid JSON',
      expect.stringMatching(/^line 5: loss: /),
    ]);
    expect(run.errors).toEqual([]);
  });

  it('reports damaged files in `errors` and still returns the rest', async () => {
    const run = await store.get(BROKEN);
    expect(run.config).toBeUndefined();
    expect(run.summary).toBeUndefined();
    expect(run.errors).toHaveLength(2);
    expect(run.metrics).toEqual([]);
    expect(run.corruptLines).toBe(0);
  });

  it('throws for an unknown run and refuses ids that are paths', async () => {
    await expect(store.get('20200101-000000-none')).rejects.toThrow(
      /no run "20200101-000000-none"/,
    );
    for (const bad of ['..', '../runs', 'a/b', ''])
      expect(() => store.runDir(bad)).toThrow(/not a run id/);
  });
});

describe('RunsStore.resolve and delete', () => {
  it('resolves a full id, a unique prefix and latest', async () => {
    expect(await store.resolve(DONE)).toBe(DONE);
    expect(await store.resolve('20261125')).toBe(DONE);
    expect(await store.resolve('latest')).toBe(LIVE);
  });

  it('rejects an ambiguous prefix or one that matches nothing', async () => {
    await expect(store.resolve('2026112')).rejects.toThrow(/"2026112" matches 3 runs/);
    await expect(store.resolve('1999')).rejects.toThrow(/no run matches "1999"/);
    await expect(store.resolve('')).rejects.toThrow(/no run matches/);
    await expect(new RunsStore(path.join(home, 'empty')).resolve('latest')).rejects.toThrow(
      /no runs yet/,
    );
  });

  it('deletes a run directory and only that', async () => {
    expect(await store.delete(DONE)).toBe(path.join(home, 'runs', DONE));
    expect((await readdir(path.join(home, 'runs'))).sort()).toEqual([
      BROKEN,
      LIVE,
      'stray-file.txt',
    ]);
    await expect(store.resolve(DONE)).rejects.toThrow(/no run matches/);
    await expect(store.delete(DONE)).rejects.toThrow(/no run/);
  });
});

describe('readMetrics and run ids', () => {
  it('reads a missing metrics file as empty', async () => {
    expect(await readMetrics(path.join(home, 'missing.jsonl'))).toEqual({
      metrics: [],
      corruptLines: 0,
      corruptSamples: [],
    });
  });

  it('keeps only the first five corrupt samples but counts them all', async () => {
    const file = path.join(home, 'm.jsonl');
    await writeFile(file, jsonl(Array.from({ length: 8 }, (_, i) => `garbage ${i}`)));
    const r = await readMetrics(file);
    expect(r.corruptLines).toBe(8);
    expect(r.corruptSamples).toHaveLength(5);
  });

  it('decodes the start time in a run id', () => {
    expect(runIdTime(DONE)).toBe(new Date(2026, 10, 25, 12, 3, 1).getTime());
    expect(runIdTime('custom-run')).toBeNaN();
  });
});
