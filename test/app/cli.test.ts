import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { jsonl, methodSummary, metric, runSummary, writeRun } from './fixtures.js';
import { GRADBENCH_BIN, runCli, type CliResult } from '../helpers/cli.js';
import { parseCsv, tempDirs } from './helpers.js';

const newDir = tempDirs();
let home: string;

function gradbench(
  args: string[],
  env: Record<string, string> = {},
  script = GRADBENCH_BIN,
): Promise<CliResult> {
  return runCli(home, args, { env, script, cwd: home });
}

beforeAll(async () => {
  const tsc = path.join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.engine.json'], {
    cwd: packageRoot,
  });
}, 180_000);

beforeEach(async () => {
  home = await newDir();
});

const RUN = '20261125-120301-default-ab12';

async function fabricateRun(): Promise<void> {
  await writeRun(home, RUN, {
    'config.json': { run: RUN, createdAt: '2026-11-25T12:03:01Z', profile: { name: 'default' } },
    'summary.json': runSummary(RUN, [
      methodSummary({ method: 'fsdp', label: 'FSDP (fp32)' }),
      methodSummary({
        method: 'topk',
        label: 'top-k, 1%',
        speedupVsBaseline: 1.5,
        otherCpuShare: 0.4,
        loadAverage: 3,
      }),
    ]),
    'metrics.jsonl': jsonl([
      metric({ run: RUN, method: 'fsdp', step: 0, rank: 0, loss: 4 }),
      metric({ run: RUN, method: 'fsdp', step: 0, rank: 1, loss: 5 }),
      'garbage',
    ]),
  });
}

describe('gradbench CLI', () => {
  it('prints usage listing every command', async () => {
    for (const args of [[], ['help'], ['--help']]) {
      const r = await gradbench(args);
      expect(r.code).toBe(0);
      for (const cmd of [
        'run',
        'start',
        'serve',
        'profiles list',
        'profiles validate',
        'hardware',
        'runs list',
        'runs show',
        'runs delete',
        'export',
        'comm-check',
        'version',
      ]) {
        expect(r.stdout).toContain(`gradbench ${cmd}`);
      }
    }
  });

  it('prints the package version', async () => {
    const pkg = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8'));
    const r = await gradbench(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`gradbench ${pkg.version}`);
  });

  it('exits 2 on usage errors, without a stack trace', async () => {
    const unknown = await gradbench(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^gradbench: unknown command "frobnicate"/);
    const badOption = await gradbench(['runs', 'list', '--bogus']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/^gradbench: Unknown option '--bogus'/);
    const missing = await gradbench(['profiles', 'show']);
    expect(missing.code).toBe(2);
    for (const r of [unknown, badOption, missing]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('adds the stack trace with GRADBENCH_DEBUG=1', async () => {
    const r = await gradbench(['profiles', 'show', 'nope'], { GRADBENCH_DEBUG: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^gradbench: no profile named "nope"/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('profiles validate lists every invalid field on its own line and exits 1', async () => {
    const file = path.join(home, 'broken.json');
    await writeFile(
      file,
      JSON.stringify({
        name: 'bad/name',
        train: { steps: 0, lr: -1 },
        parallel: { sharding: 'ZERO9' },
        backend: 'gpu',
        extra: 1,
      }),
    );
    const r = await gradbench(['profiles', 'validate', file]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`gradbench: invalid ${file}:`);
    expect(lines.slice(1).map((l) => l.trim().split(':')[0])).toEqual([
      'name',
      'train.steps',
      'train.lr',
      'parallel.sharding',
      'backend',
      '(profile)',
    ]);
  });

  it('profiles validate accepts a valid file and rejects broken JSON', async () => {
    const good = path.join(home, 'good.json');
    await writeFile(good, JSON.stringify({ name: 'good', methods: [{ id: 'topk' }] }));
    const ok = await gradbench(['profiles', 'validate', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe(`${good}: valid`);
    const bad = path.join(home, 'bad.json');
    await writeFile(bad, '{"name": ');
    const r = await gradbench(['profiles', 'validate', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json is not valid JSON/);
    const huge = path.join(home, 'huge.json');
    await writeFile(huge, JSON.stringify({ name: 'huge', description: 'x'.repeat(300 * 1024) }));
    const big = await gradbench(['profiles', 'validate', huge]);
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(/huge\.json is 300\.\d KiB; it may be at most 256 KiB/);
  });

  it('profiles save, list, show, export and delete', async () => {
    const file = path.join(home, 'mine.json');
    await writeFile(file, JSON.stringify({ name: 'Mine', methods: [{ id: 'topk' }] }));
    const saved = await gradbench(['profiles', 'save', file]);
    expect(saved.code).toBe(0);
    expect(await readdir(path.join(home, 'profiles'))).toEqual(['mine.json']);

    const list = await gradbench(['profiles', 'list', '--json']);
    const entries = JSON.parse(list.stdout) as { name: string; builtin: boolean }[];
    expect(entries.map((e) => [e.name, e.builtin])).toEqual([
      ['default', true],
      ['quick', true],
      ['micro-1gbe', true],
      ['nano-hybrid', true],
      ['Mine', false],
    ]);
    const table = await gradbench(['profiles', 'list']);
    expect(table.stdout).toMatch(/^Mine\s+saved\s+nano\s+2\/1\s+fsdp,topk/m);

    const shown = JSON.parse((await gradbench(['profiles', 'show', 'Mine'])).stdout);
    expect(shown.methods[0].id).toBe('topk');
    const out = path.join(home, 'out.json');
    expect((await gradbench(['profiles', 'export', 'Mine', out])).code).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual(shown);

    const builtin = await gradbench(['profiles', 'delete', 'default']);
    expect(builtin.code).toBe(1);
    expect(builtin.stderr).toMatch(/built-in profile and cannot be deleted/);
    expect((await gradbench(['profiles', 'delete', 'Mine'])).code).toBe(0);
    expect(await readdir(path.join(home, 'profiles'))).toEqual([]);
  });

  it('runs list, show and delete', async () => {
    await fabricateRun();
    const list = await gradbench(['runs', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${RUN}\\s+default\\s+builtin\\s+completed\\s+.*fsdp,topk$`, 'm'),
    );
    const json = JSON.parse((await gradbench(['runs', 'list', '--json'])).stdout);
    expect(json[0]).toMatchObject({ id: RUN, status: 'completed', methods: ['fsdp', 'topk'] });

    const show = await gradbench(['runs', 'show', 'latest']);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/top-k, 1%\s+completed\s+2\s+12 ms/);
    expect(show.stdout).toContain('1 corrupt lines skipped (line 3: not valid JSON)');
    // Its timings were taken while other processes used 40 % of the CPU: said with the figures.
    expect(show.stdout).toContain(
      'top-k, 1%: other processes used 40 % of the CPU while it ran (load average 3.0)',
    );
    expect(show.stdout).not.toMatch(/FSDP \(fp32\): other processes/);
    const showJson = JSON.parse((await gradbench(['runs', 'show', '2026', '--json'])).stdout);
    expect(showJson).toMatchObject({ id: RUN, metricsRecords: 2, corruptLines: 1 });

    expect((await gradbench(['runs', 'delete', RUN.slice(0, 10)])).code).toBe(0);
    expect(await readdir(path.join(home, 'runs'))).toEqual([]);
    const gone = await gradbench(['runs', 'show', RUN]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no run matches/);
  });

  it('runs delete refuses a live run unless forced', async () => {
    const id = '20261126-090000-live-0001';
    await writeRun(home, id, { 'config.json': { run: id, pid: process.pid, profile: 'live' } });
    const refused = await gradbench(['runs', 'delete', id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`run ${id} is still running`);
    expect(await readdir(path.join(home, 'runs'))).toEqual([id]);
    expect((await gradbench(['runs', 'delete', id, '--force'])).code).toBe(0);
    expect(await readdir(path.join(home, 'runs'))).toEqual([]);
  });

  it('export --csv writes per-step rows aggregated over ranks, or the summary', async () => {
    await fabricateRun();
    const steps = await gradbench(['export', 'latest', '--csv']);
    expect(steps.code).toBe(0);
    expect(steps.stderr).toContain('skipped 1 corrupt lines');
    const rows = parseCsv(steps.stdout);
    expect(rows).toHaveLength(2);
    const rec = Object.fromEntries(rows[0].map((h, i) => [h, rows[1][i]]));
    expect(rec).toMatchObject({
      method: 'fsdp',
      step: '1', // steps numbered from 1, as in the progress line and the charts
      ranks: '2',
      loss: '4.5',
      tokens: '512',
    });

    const file = path.join(home, 'summary.csv');
    expect((await gradbench(['export', RUN, '--csv', file, '--summary'])).code).toBe(0);
    const summary = parseCsv(await readFile(file, 'utf8'));
    expect(summary.map((r) => r[2])).toEqual(['method', 'fsdp', 'topk']);
    expect(summary[2][3]).toBe('top-k, 1%');

    const noFormat = await gradbench(['export', RUN]);
    expect(noFormat.code).toBe(2);
    expect(noFormat.stderr).toMatch(/--csv/);
  });

  it('hardware --json reports this machine', async () => {
    const r = await gradbench(['hardware', '--json']);
    expect(r.code).toBe(0);
    const h = JSON.parse(r.stdout);
    expect(h.node.version).toBe(process.versions.node);
    expect(h.backends.find((b: { name: string }) => b.name === 'cpu').available).toBe(true);
    expect(Array.isArray(h.missing)).toBe(true);
  }, 30_000);

  it('comm-check passes on 2 local ranks', async () => {
    const r = await gradbench(['comm-check', '--world', '2', '--lengths', '0,7']);
    expect(r.code, r.stderr).toBe(0);
    const checks = [...r.stdout.matchAll(/^rank (\d): pass \((\d+) checks\)$/gm)];
    expect(checks.map((m) => m[1])).toEqual(['0', '1']);
    const perRank = Number(checks[0][2]);
    expect(perRank).toBeGreaterThan(50);
    expect(r.stdout).toContain(`comm-check passed: 2 ranks, ${2 * perRank} checks in total`);
  });

  it('comm-check exits 1 with the failing ranks and their stderr', async () => {
    const r = await gradbench(['comm-check', '--world', '2', '--lengths', '0'], {
      GRADBENCH_LISTEN_ADDR: 'no-such-host.invalid',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^rank 0: FAIL \(exit code 1\)$/m);
    expect(r.stderr).toMatch(
      /--- rank \d stderr \(last \d+ lines\) ---\nrank \d: .*no-such-host\.invalid/,
    );
    expect(r.stderr).toMatch(/gradbench: comm-check failed on 2 of 2 ranks/);
  });

  it('comm-check rejects inconsistent options', async () => {
    const r = await gradbench(['comm-check', '--world', '3', '--nodes', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--nodes \(2\) must divide --world \(3\)/);
  });

  it('the bin shim asks for a build when dist is missing', async () => {
    const fake = path.join(home, 'pkg', 'bin', 'gradbench.js');
    await mkdir(path.dirname(fake), { recursive: true });
    await copyFile(GRADBENCH_BIN, fake);
    const r = await gradbench(['version'], {}, fake);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('run npm run build:engine first');
  });

  it('start without a display says why in one line, prints no URL that would die, and runs the default comparison', async () => {
    const r = await gradbench(['start', '--steps', '2', '--world', '2'], {
      DISPLAY: '',
      WAYLAND_DISPLAY: '',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      'no display (DISPLAY and WAYLAND_DISPLAY are unset): running the built-in "default" benchmark in the terminal; "gradbench serve" shows the app in a browser',
    );
    expect(r.stdout + r.stderr).not.toMatch(/http:\/\/|TypeError|fetch failed|    at /);
    // The default profile shows what GradBench is for: compression beside FSDP on a slow link.
    for (const method of ['FSDP (fp32)', 'int8', 'tagc'])
      expect(r.stdout).toMatch(new RegExp(`^${method.replace(/[()]/g, '\\$&')}\\s+completed`, 'm'));
    const runs = await readdir(path.join(home, 'runs'));
    expect(runs).toHaveLength(1);
  });
});
