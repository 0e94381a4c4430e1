/**
 * What a new user and a hostile tester meet first: `--help` on every command, each error printed
 * once, and profile files that are not what they claim (a FIFO, a device, a byte-order mark,
 * bytes that are not UTF-8). The CLI's main() runs in-process, its output captured.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../engine/cli.js';
import { COMMAND_HELP } from '../../engine/cli/help.js';
import { methodSummary, runSummary, writeRun } from './fixtures.js';
import { tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
let savedHome: string | undefined;
beforeAll(() => {
  savedHome = process.env.GRADBENCH_HOME;
  process.env.GRADBENCH_HOME = home;
});
afterAll(() => {
  if (savedHome === undefined) delete process.env.GRADBENCH_HOME;
  else process.env.GRADBENCH_HOME = savedHome;
  cleanup();
});

/** Runs the CLI in this process; returns its exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const file = (name: string, content: string | Buffer): string => {
  const p = path.join(home, name);
  writeFileSync(p, content);
  return p;
};

describe('--help', () => {
  it('every command prints its own usage and exits 0', async () => {
    const commands = [
      'run',
      'start',
      'serve',
      'profiles',
      'hardware',
      'runs',
      'export',
      'project',
      'comm-check',
    ];
    expect(Object.keys(COMMAND_HELP).sort()).toEqual([...commands].sort());
    for (const command of commands) {
      for (const flag of ['--help', '-h']) {
        const r = await cli(command, flag);
        expect([command, r.code, r.err]).toEqual([command, 0, '']);
        expect(r.out).toMatch(new RegExp(`^usage: gradbench ${command}\\b`));
      }
    }
    const run = await cli('run', '--help');
    for (const option of [
      '--steps',
      '--world',
      '--backend',
      'GRADBENCH_MAX_RANKS_PER_CORE',
      'stallTimeoutS',
    ])
      expect(run.out).toContain(option);
  });

  it('an unknown option of run is a usage error, printed once', async () => {
    const r = await cli('run', 'default', '--bogus');
    expect(r.code).toBe(2);
    expect(r.err.match(/Unknown option '--bogus'/g)).toHaveLength(1);
  });
});

describe('each error once', () => {
  it('cross-field and method-parameter problems are listed once each', async () => {
    const bad = file(
      'bad.json',
      JSON.stringify({
        name: 'x',
        parallel: { worldSize: 2, nodes: 3 },
        methods: [{ id: 'topk', params: { ratio: 5 } }],
      }),
    );
    for (const args of [
      ['profiles', 'validate', bad],
      ['run', bad],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      const problems = r.err
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
      expect(problems).toEqual([
        'parallel.nodes: 3 nodes cannot share 2 ranks evenly: use 1 or 2 nodes, or change the world size',
        'methods.0.params.ratio: must be 1 or less',
      ]);
    }
  });

  it('the stall watchdog timeout is a validated profile field', async () => {
    const bad = file('stall.json', JSON.stringify({ name: 'x', health: { stallTimeoutS: 2 } }));
    const r = await cli('profiles', 'validate', bad);
    expect(r.code).toBe(1);
    expect(r.err).toContain('health.stallTimeoutS: use at least 5 s');
    const shown = await cli('profiles', 'show', 'default');
    expect(JSON.parse(shown.out).health.stallTimeoutS).toBe(300);
  });
});

describe('profile files', () => {
  const profile = JSON.stringify({ name: 'bom-ok' });

  it('accepts a UTF-8 byte-order mark', async () => {
    const withBom = file(
      'bom.json',
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(profile)]),
    );
    const r = await cli('profiles', 'validate', withBom);
    expect([r.code, r.err]).toEqual([0, '']);
  });

  it('refuses bytes that are not UTF-8, naming the offset of the first', async () => {
    const bytes = Buffer.from(profile);
    bytes[12] = 0xff;
    const bad = file('latin1.json', bytes);
    const r = await cli('profiles', 'validate', bad);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `gradbench: profile ${bad} is not UTF-8 text: byte 12 (0xff) is not valid UTF-8; save the file as UTF-8\n`,
    );
  });

  it('refuses a FIFO and a device without reading them', async () => {
    const fifo = path.join(home, 'fifo.json');
    execFileSync('mkfifo', [fifo]);
    for (const [target, kind] of [
      [fifo, 'a FIFO'],
      ['/dev/zero', 'a device or socket'],
    ]) {
      for (const args of [
        ['profiles', 'validate', target],
        ['run', target],
      ]) {
        const r = await cli(...args);
        expect(r.code).toBe(1);
        expect(r.err).toBe(
          `gradbench: profile ${target} is not a regular file (${kind}); give the path of a file\n`,
        );
      }
    }
  });

  it('refuses a file over the size cap before reading it', async () => {
    const big = file('big.json', `{"name":"big","description":"${'x'.repeat(300 * 1024)}"}`);
    const r = await cli('profiles', 'validate', big);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^gradbench: profile .*big\.json is 300\.\d KiB; it may be at most 256 KiB\n$/,
    );
  });
});

describe('runs show', () => {
  it('exits with the same code with and without --json: 0 for a sound run, 1 for a damaged one', async () => {
    const sound = '20261125-120301-sound-ab12';
    const damaged = '20261125-120302-damaged-ab12';
    const config = (run: string) => ({
      run,
      createdAt: '2026-11-25T12:03:01Z',
      profile: { name: 'p' },
    });
    await writeRun(home, sound, {
      'config.json': config(sound),
      'summary.json': runSummary(sound, [methodSummary({ method: 'fsdp' })]),
    });
    await writeRun(home, damaged, { 'config.json': config(damaged), 'summary.json': '{"run": ' });
    for (const [id, code] of [
      [sound, 0],
      [damaged, 1],
    ] as const) {
      const text = await cli('runs', 'show', id);
      const json = await cli('runs', 'show', id, '--json');
      expect([id, text.code, json.code]).toEqual([id, code, code]);
      expect(json.err).toBe(text.err);
    }
  });
});
