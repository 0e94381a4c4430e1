/**
 * The suite report on synthetic run directories: records derived from real run-directory files,
 * crossover interpolated from known step times, SVG figures written, table rows, and other
 * benchmarks' sections of BENCHMARKS.md left alone.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MetricLine } from '../../engine/run/metrics.js';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { compareToBaseline, summarizeMethod } from '../../engine/run/summary.js';
import { crossover, describeCrossover } from '../../benchmarks/suite/crossover.js';
import { generateReport } from '../../benchmarks/suite/report.js';
import {
  recordFromRun,
  writeScenarioRecord,
  type ScenarioRecord,
} from '../../benchmarks/suite/results.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'gradbench-suite-report-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const STEPS = 6;
const WORLD = 2;

/** Writes a run directory as the launcher would, with the given step time per method. */
function writeRun(home: string, id: string, input: ProfileInput, stepMs: Record<string, number>) {
  const profile = parseProfile(input);
  const methods = resolveMethods(profile);
  const dir = path.join(home, 'runs', id);
  mkdirSync(dir, { recursive: true });
  const config = {
    run: id,
    createdAt: '2026-12-01T00:00:00.000Z',
    profile,
    methods,
    versions: {},
    host: {},
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const lines: MetricLine[] = [];
  for (const m of methods)
    for (let step = 0; step < STEPS; step++)
      for (let rank = 0; rank < WORLD; rank++) {
        const ms = stepMs[m.key!];
        lines.push({
          run: id,
          method: m.key!,
          step,
          rank,
          loss: 4 - 0.1 * step,
          computeMs: ms * 0.7,
          exposedCommMs: ms * 0.3,
          commMs: ms * 0.5,
          encodeMs: m.id === 'fsdp' ? 0 : ms * 0.05,
          decodeMs: m.id === 'fsdp' ? 0 : ms * 0.05,
          stepMs: ms,
          rawBytes: 4000,
          wireBytes: m.id === 'fsdp' ? 4000 : 2000,
          tokens: 256,
          backend: 'cpu',
        });
      }
  writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
  const summaries = compareToBaseline(methods.map((m) => summarizeMethod(m, lines, 'completed')));
  const summary = {
    run: id,
    profile: profile.name,
    status: 'completed',
    startedAt: config.createdAt,
    methods: summaries,
  };
  writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(summary));
}

const profileAt = (gbps: number): ProfileInput => ({
  name: `synthetic-${gbps}`,
  model: { preset: 'nano' },
  train: { steps: STEPS, batchPerRank: 1 },
  parallel: { worldSize: WORLD, nodes: 2 },
  network: { intra: 'off', inter: { gbps, latencyUs: 100 } },
  methods: [{ id: 'fp16' }, { id: 'topk', params: { ratio: 0.1 } }],
});

describe('crossover', () => {
  it('interpolates in log-bandwidth where the speedup first falls to 1', () => {
    const c = crossover([
      { gbps: 1, speedup: 0.8 },
      { gbps: 0.1, speedup: 2 },
      { gbps: 10, speedup: 0.7 },
    ]);
    expect(c.kind).toBe('crossing');
    // log10(g) = -1 + (2 - 1) / (2 - 0.8)
    if (c.kind === 'crossing') expect(c.gbps).toBeCloseTo(10 ** (-1 + 1 / 1.2), 10);
  });

  it('keeps the first crossing and names faster links where the speedup recovers', () => {
    const c = crossover([
      { gbps: 0.01, speedup: 1.2 },
      { gbps: 0.1, speedup: 0.9 },
      { gbps: 1, speedup: 1.1 },
      { gbps: 10, speedup: 0.95 },
    ]);
    expect(c).toMatchObject({ kind: 'crossing', between: [0.01, 0.1], aboveAgainAt: [1] });
    // log10(g) = -2 + (1.2 - 1) / (1.2 - 0.9) -> 0.046
    expect(describeCrossover(c)).toBe(
      '0.046 Gb/s (between 0.01 Gb/s and 0.1 Gb/s; above 1 again at 1 Gb/s)',
    );
  });

  it('says when the crossover lies outside the measured range', () => {
    expect(
      crossover([
        { gbps: 0.1, speedup: 1.5 },
        { gbps: 1, speedup: 1.1 },
      ]).kind,
    ).toBe('above-range');
    expect(
      crossover([
        { gbps: 0.1, speedup: 0.9 },
        { gbps: 1, speedup: 0.8 },
      ]).kind,
    ).toBe('below-range');
  });
});

describe('suite report', () => {
  it('rebuilds sections and SVG figures from run directories', async () => {
    const home = path.join(root, 'home');
    const results = path.join(root, 'results');
    const figures = path.join(root, 'figures');
    const md = path.join(root, 'BENCHMARKS.md');
    writeFileSync(
      md,
      '# Benchmarks\n\n<!-- bench:comm:start -->\nkept as is\n<!-- bench:comm:end -->\n',
    );
    // fp16: 2x faster at 0.1 Gb/s, 0.8x at 1 Gb/s -> crossover at 10^(-1 + 1/1.2) = 0.68 Gb/s.
    // top-k: faster everywhere -> above the range.
    // Predicted (projection) fp16 speedups 1.5, 1.2, 0.6 -> 10^(0 + 0.2 / 0.6) = 2.2 Gb/s.
    const points = [
      { gbps: 0.1, ms: { fsdp: 100, fp16: 50, topk: 40 }, predicted: 1.5 },
      { gbps: 1, ms: { fsdp: 100, fp16: 125, topk: 80 }, predicted: 1.2 },
      { gbps: 10, ms: { fsdp: 100, fp16: 130, topk: 90 }, predicted: 0.6 },
    ];
    const store = new RunsStore(home);
    const runs = [];
    for (const [i, p] of points.entries()) {
      const id = `20261201-00000${i}-synthetic`;
      writeRun(home, id, profileAt(p.gbps), p.ms);
      runs.push(
        recordFromRun(await store.get(id), {
          key: `${p.gbps}`,
          label: `${p.gbps} Gb/s`,
          x: p.gbps,
          wallSec: 1,
          predicted: {
            fp16: { stepMs: 100 / p.predicted, exposedCommMs: 1, speedupVsFsdp: p.predicted },
          },
        }),
      );
    }
    const base = {
      measuredAt: '2026-12-01T00:00:00.000Z',
      durationSec: 3,
      machine: 'Test CPU, 2 cores; load 0',
      warmupSteps: 2,
    };
    const cross: ScenarioRecord = {
      ...base,
      scenario: 'crossover',
      title: 'Synthetic crossover',
      question: 'q',
      axis: 'bandwidth',
      runs,
    };
    const methods: ScenarioRecord = {
      ...base,
      scenario: 'methods',
      title: 'Synthetic methods',
      question: 'q',
      axis: 'method',
      runs: [runs[0]],
    };
    const sharding: ScenarioRecord = {
      ...base,
      scenario: 'sharding',
      title: 'Synthetic sharding',
      question: 'q',
      axis: 'sharding',
      runs: [{ ...runs[0], label: 'FULL_SHARD' }],
    };
    const world: ScenarioRecord = {
      ...base,
      scenario: 'world',
      title: 'Synthetic world',
      question: 'q',
      axis: 'world',
      runs: [
        { ...runs[1], x: 4 },
        { ...runs[0], x: 2 },
      ],
    };
    for (const rec of [cross, methods, sharding, world]) await writeScenarioRecord(rec, results);

    const out = await generateReport({
      resultsDir: results,
      figuresDir: figures,
      benchmarksFile: md,
    });

    expect(out.sections).toEqual([
      'suite',
      'suite-crossover',
      'suite-methods',
      'suite-sharding',
      'suite-world',
    ]);
    const text = readFileSync(md, 'utf8');
    const section = (name: string) =>
      text.slice(
        text.indexOf(`<!-- bench:suite-${name}:start -->`),
        text.indexOf(`<!-- bench:suite-${name}:end -->`),
      );
    // Predicted next to measured in every scenario: fp16 measured 50 ms at 0.1 Gb/s, predicted
    // 100 / 1.5 = 66.7 ms (+33.3 %); 125 ms at 1 Gb/s, predicted 100 / 1.2 = 83.3 ms (-33.3 %).
    const fp16Row = (name: string) =>
      section(name)
        .split('\n')
        .find((l) => l.includes('| fp16 |'));
    expect(fp16Row('methods')).toContain('| 66.7 | 33.3 % |');
    expect(fp16Row('sharding')).toMatch(
      /^\| FULL_SHARD \| fp16 \| 50\.0 \|.*\| 66\.7 \| 33\.3 % \|$/,
    );
    expect(section('sharding')).toContain('| predicted step ms | prediction error |');
    const worldRow = (x: number) =>
      section('world')
        .split('\n')
        .find((l) => l.startsWith(`| ${x} | `));
    expect(worldRow(2)).toContain('| 50.0 | 66.7 | 33.3 % |');
    expect(worldRow(4)).toContain('| 125.0 | 83.3 | -33.3 % |');
    expect(section('world')).toContain('| fp16 predicted step ms | fp16 prediction error |');
    expect(section('world')).toMatch(
      /Prediction error over all 2 predicted steps: largest 33\.3 % \(fp16, 0\.1 Gb\/s\)/,
    );
    expect(text).toContain('<!-- bench:comm:start -->\nkept as is\n<!-- bench:comm:end -->');
    const crossSection = text.slice(
      text.indexOf('<!-- bench:suite-crossover:start -->'),
      text.indexOf('<!-- bench:suite-crossover:end -->'),
    );
    const row = (label: string) =>
      crossSection.split('\n').find((l) => l.startsWith(`| ${label} | `));
    expect(row('fp16')).toContain('0.68 Gb/s (between 0.1 Gb/s and 1 Gb/s)');
    expect(row('fp16')).toContain('2.000x');
    expect(row('topk')).toContain('above 10 Gb/s');
    expect(row('fp16')).toMatch(/\| 2\.2 Gb\/s \(between 1 Gb\/s and 10 Gb\/s\) \|$/);
    expect(crossSection).toContain('2.000x (50 ms; predicted 1.500x)');
    // One speedup row per bandwidth, each with the measured FSDP step time.
    for (const p of points) expect(text).toMatch(new RegExp(`\\| ${p.gbps} \\| 100\\.0 \\|`));
    // Hyper-parameters with registry defaults filled in.
    expect(text).toContain('"ratio":0.1');
    for (const name of [
      'crossover',
      'methods-breakdown',
      'methods-loss-step',
      'methods-loss-wall',
      'methods-bytes',
    ]) {
      const file = path.join(figures, `${name}.svg`);
      expect(existsSync(file)).toBe(true);
      const svg = readFileSync(file, 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('Test CPU, 2 cores | backend cpu | 2026-12-01');
      expect(text).toContain(`](figures/${name}.svg)`);
    }
    expect(readFileSync(path.join(figures, 'crossover.svg'), 'utf8')).toContain('fp16');
  });
});
