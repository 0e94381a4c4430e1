/**
 * Rebuilds the suite's sections of BENCHMARKS.md and its figures (docs/benchmarks/*.svg) from the
 * scenario records alone: nothing here runs a benchmark, and no number is typed by hand. Other
 * benchmarks' marked sections are left as they are.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MethodSummary } from '../../engine/run/metrics.js';
import { measured, type MeasuredSummary } from '../../engine/run/summary.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { BENCHMARKS_FILE, mdTable, writeSection } from '../report.js';
import { barChartSvg, lineChartSvg, PALETTE } from './charts.js';
import { crossover, describeCrossover, type Crossover } from './crossover.js';
import { enginesSection } from './engines-section.js';
import {
  readScenarioRecords,
  RESULTS_DIR,
  stepField,
  timedSteps,
  type MethodRecord,
  type RunRecord,
  type ScenarioRecord,
} from './results.js';
import { SCENARIOS } from './scenarios.js';

export const FIGURES_DIR = path.join(packageRoot, 'docs', 'benchmarks');

/** Kernel-shaped step time within this fraction of the emulated one counts as agreement. */
export const NETNS_TOLERANCE = 0.15;

export interface ReportOptions {
  resultsDir?: string;
  figuresDir?: string;
  benchmarksFile?: string;
}

export interface ReportOutput {
  sections: string[];
  figures: string[];
}

const fmt = (x: number | undefined, d = 1): string =>
  x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d);
const pct = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '' : `${(x * 100).toFixed(1)} %`;
const speed = (m: MethodSummary | undefined): string =>
  m?.speedupVsBaseline === undefined ? '' : `${m.speedupVsBaseline.toFixed(3)}x`;
const kib = (bytes: number | undefined): string =>
  bytes === undefined || !Number.isFinite(bytes) ? '' : `${(bytes / 1024).toFixed(1)} KiB`;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Collects figures: writes each SVG and returns its markdown link (relative to BENCHMARKS.md). */
class Figures {
  readonly written: string[] = [];
  constructor(
    private readonly dir: string,
    private readonly mdFile: string,
  ) {}

  add(name: string, alt: string, svg: string): string {
    mkdirSync(this.dir, { recursive: true });
    const file = path.join(this.dir, `${name}.svg`);
    writeFileSync(file, svg);
    this.written.push(file);
    const rel = path.relative(path.dirname(this.mdFile), file).split(path.sep).join('/');
    return `![${alt}](${rel})`;
  }
}

/** Machine (without the load average), backend and date: every figure's caption. */
function caption(rec: ScenarioRecord): string {
  const machine = rec.machine.split(';')[0];
  const backends = [...new Set(rec.runs.map((r) => r.backend))].join(', ');
  return `${machine} | backend ${backends} | ${rec.measuredAt.slice(0, 10)}`;
}

function measuredLine(rec: ScenarioRecord): string {
  const backends = [...new Set(rec.runs.map((r) => r.backend))].join(', ');
  return [
    `Measured by \`npm run bench -- ${rec.scenario}\` on ${rec.measuredAt} (${(rec.durationSec / 60).toFixed(1)} min${rec.gitSha ? `, commit ${rec.gitSha}` : ''}), backend ${backends}.`,
    `Machine: ${rec.machine}.`,
  ].join('\n');
}

const summaryOf = (run: RunRecord, key: string): MeasuredSummary | undefined => {
  const s = run.summary.find((m) => m.method === key);
  return s && measured(s);
};

/** Mean of the timed steps' fields for one method: the step-time breakdown. */
function breakdown(m: MethodRecord) {
  const rows = timedSteps(m.steps);
  const f = (c: Parameters<typeof stepField>[1]): number => mean(rows.map((r) => stepField(r, c)));
  const compute = f('computeMs');
  const encode = f('encodeMs');
  const decode = f('decodeMs');
  // Methods with their own communication rounds (PowerSGD, random-k, agreed-scale int8) time the
  // whole round as encode, communication included: then the codec is not a part of compute.
  const separable = encode + decode <= compute;
  return {
    compute: separable ? compute - encode - decode : compute,
    exposed: f('exposedCommMs'),
    encode: separable ? encode : NaN,
    decode: separable ? decode : NaN,
  };
}

/** The breakdown's codec figures for charts: rounds methods show no separate codec bar. */
const orZero = (x: number): number => (Number.isFinite(x) ? x : 0);

/** A prediction within this fraction of the measured step time counts as agreement. */
export const PREDICTION_TOLERANCE = 0.15;

const MODEL_TERMS =
  "alpha-beta links plus the comm stack's cost per hop, FSDP overlap, decoding inside the compute thread's waits, rank skew between meeting points";

const PREDICTION_NOTE = `- Predicted: the projection model (engine/projection: ${MODEL_TERMS}) applied to each run's own measured per-unit compute and bytes on the same links; dashed in the chart.`;

/** The largest and mean prediction error over every predicted method of a scenario. */
function predictionErrorLine(rec: ScenarioRecord): string[] {
  const errors = rec.runs.flatMap((run) =>
    run.methods.flatMap((m) => {
      const s = summaryOf(run, m.key);
      return m.predicted && s
        ? [{ where: `${m.label}, ${run.label}`, e: m.predicted.stepMs / s.meanStepMs - 1 }]
        : [];
    }),
  );
  if (!errors.length) return [];
  const worst = errors.reduce((a, b) => (Math.abs(b.e) > Math.abs(a.e) ? b : a));
  const meanAbs = mean(errors.map((x) => Math.abs(x.e)));
  return [
    `- Prediction error over all ${errors.length} predicted steps: largest ${pct(worst.e)} (${worst.where}), mean absolute ${pct(meanAbs)} (acceptance: within ${PREDICTION_TOLERANCE * 100} %).`,
  ];
}

/** Predicted step ms and its error against the measured mean, for a method that has both. */
function predictedCells(m: MethodRecord | undefined, s: MeasuredSummary | undefined): string[] {
  const p = m?.predicted;
  return [fmt(p?.stepMs), p && s ? pct(p.stepMs / s.meanStepMs - 1) : ''];
}

const PREDICTED_HEADERS = ['predicted step ms', 'prediction error'];

const ERROR_NOTE = `- Predicted step ms: the projection model (engine/projection: ${MODEL_TERMS}) applied to the run's own measured per-unit compute and bytes on the same links; prediction error = predicted / measured - 1.`;

const noRecord = (name: string): string =>
  `Not measured on this machine yet: \`npm run bench -- ${name}\` records it.`;

function crossoverSection(rec: ScenarioRecord, figs: Figures): string {
  const runs = [...rec.runs].sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
  const methods = runs[0]?.methods.filter((m) => m.id !== 'fsdp') ?? [];
  const rows = runs.map((run) => {
    const base = summaryOf(run, 'fsdp');
    return [
      String(run.x),
      fmt(base?.meanStepMs),
      base ? pct(base.meanExposedCommMs / base.meanStepMs) : '',
      ...methods.map((m) => {
        const s = summaryOf(run, m.key);
        const p = run.methods.find((x) => x.key === m.key)?.predicted;
        const pred = p ? `; predicted ${p.speedupVsFsdp.toFixed(3)}x` : '';
        return s ? `${speed(s)} (${fmt(s.meanStepMs, 0)} ms${pred})` : '';
      }),
    ];
  });
  const points = (key: string) =>
    runs
      .map((r) => ({ gbps: r.x ?? NaN, speedup: summaryOf(r, key)?.speedupVsBaseline ?? NaN }))
      .filter((p) => Number.isFinite(p.speedup));
  const crossings = new Map<string, Crossover>();
  for (const m of methods) {
    const pts = points(m.key);
    if (pts.length) crossings.set(m.key, crossover(pts));
  }
  // The projection model's speedups for the same runs, where the records carry them.
  const predictedPoints = (key: string) =>
    runs.flatMap((r) => {
      const p = r.methods.find((m) => m.key === key)?.predicted;
      return p && r.x !== undefined ? [{ gbps: r.x, speedup: p.speedupVsFsdp }] : [];
    });
  const havePredictions = methods.some((m) => predictedPoints(m.key).length > 0);
  const crossRows = methods.map((m) => {
    const pts = points(m.key);
    const c = crossings.get(m.key);
    const pp = predictedPoints(m.key);
    const gaps = runs
      .map((r) => summaryOf(r, m.key)?.lossGapVsBaseline)
      .filter((g) => g !== undefined);
    return [
      m.label,
      c ? describeCrossover(c) : 'no data',
      pts.length ? `${pts[0].speedup.toFixed(3)}x` : '',
      pts.length ? `${pts.at(-1)!.speedup.toFixed(3)}x` : '',
      gaps.length ? pct(mean(gaps)) : '',
      ...(havePredictions ? [pp.length ? describeCrossover(crossover(pp)) : ''] : []),
    ];
  });
  const chart = figs.add(
    rec.scenario,
    'Speedup against FSDP vs inter-node bandwidth',
    lineChartSvg({
      title: 'Speedup vs FSDP across inter-node bandwidth (dotted: crossover)',
      caption: caption(rec),
      xName: 'inter-node bandwidth (Gb/s, log scale)',
      yName: 'speedup vs FSDP',
      xLog: true,
      series: [
        ...methods.map((m, i) => ({
          name: m.label,
          color: PALETTE[i % PALETTE.length],
          data: points(m.key).map((p): [number, number] => [p.gbps, p.speedup]),
        })),
        ...methods.flatMap((m, i) =>
          predictedPoints(m.key).length
            ? [
                {
                  name: `${m.label} (predicted)`,
                  dashed: true,
                  color: PALETTE[i % PALETTE.length],
                  data: predictedPoints(m.key).map((p): [number, number] => [p.gbps, p.speedup]),
                },
              ]
            : [],
        ),
      ],
      refY: { value: 1, label: 'FSDP' },
      refX: methods.flatMap((m) => {
        const c = crossings.get(m.key);
        return c?.kind === 'crossing' ? [{ value: c.gbps, label: m.label }] : [];
      }),
    }),
  );
  const p = runs[0]?.profile;
  return [
    `## ${rec.title}`,
    '',
    measuredLine(rec),
    p
      ? `Every point: ${p.train.steps} steps, world ${p.parallel.worldSize} on ${p.parallel.nodes} nodes, ${p.parallel.sharding}, inter-node latency ${typeof p.network.inter === 'string' ? p.network.inter : `${p.network.inter.latencyUs} us`}, intra-node links unshaped; the FSDP baseline ran in the same run as the methods (same seed, data, link).`
      : '',
    '',
    chart,
    '',
    '### Crossover: the bandwidth above which each method no longer beats FSDP',
    '',
    mdTable(
      [
        'method',
        'crossover (log-linear interpolation)',
        'speedup at slowest link',
        'speedup at fastest link',
        'mean loss gap',
        ...(havePredictions ? ['predicted crossover (projection model)'] : []),
      ],
      crossRows,
    ),
    '',
    '### Speedup (step ms) per bandwidth',
    '',
    mdTable(
      ['inter-node Gb/s', 'FSDP step ms', 'FSDP exposed comm', ...methods.map((m) => m.label)],
      rows,
    ),
    '',
    '- Speedup = FSDP step time / method step time, both after warm-up and without the error-probe steps. The crossover is where the speedup first falls to 1 going from slow to fast links, interpolated linearly in log-bandwidth between the two measured points around it.',
    ...(havePredictions ? [PREDICTION_NOTE, ...predictionErrorLine(rec)] : []),
    '- Near the crossover the speedups differ from 1 by less than the run-to-run noise of a shared 2-core machine: read the crossover as a band around the interpolated value, not a sharp threshold.',
  ]
    .filter((l) => l !== undefined)
    .join('\n');
}

function methodTable(run: RunRecord): string {
  const withPrediction = run.methods.some((m) => m.predicted);
  const rows = run.methods.map((m) => {
    const s = summaryOf(run, m.key);
    const b = breakdown(m);
    return [
      m.label,
      s?.status ?? '',
      fmt(s?.meanStepMs),
      fmt(b.compute),
      fmt(b.exposed),
      Number.isFinite(b.encode) ? fmt(b.encode, 2) : 'in rounds',
      Number.isFinite(b.decode) ? fmt(b.decode, 2) : 'in rounds',
      kib(s?.wireBytesPerStep),
      fmt(s?.compressionRatio, 2),
      fmt(s?.finalLoss, 4),
      pct(s?.lossGapVsBaseline),
      speed(s),
      ...(withPrediction ? predictedCells(m, s) : []),
    ];
  });
  return mdTable(
    [
      'method',
      'status',
      'step ms',
      'compute ms (excl. codec)',
      'exposed comm ms',
      'encode ms',
      'decode ms',
      'wire/step',
      'ratio',
      'final loss',
      'loss gap',
      'speedup',
      ...(withPrediction ? PREDICTED_HEADERS : []),
    ],
    rows,
  );
}

function methodsSection(rec: ScenarioRecord, figs: Figures): string {
  const run = rec.runs[0];
  if (!run) return `## ${rec.title}\n\n${noRecord(rec.scenario)}`;
  const labels = run.methods.map((m) => m.label);
  const parts = run.methods.map(breakdown);
  const cap = caption(rec);
  const bd = figs.add(
    `${rec.scenario}-breakdown`,
    'Step time breakdown per method',
    barChartSvg({
      title: 'Step time breakdown per method (mean of timed steps)',
      caption: cap,
      categories: labels,
      yName: 'ms per step',
      horizontal: true,
      series: [
        { name: 'compute (excl. codec)', data: parts.map((p) => p.compute), stack: 't' },
        { name: 'exposed comm', data: parts.map((p) => p.exposed), stack: 't' },
        { name: 'encode', data: parts.map((p) => orZero(p.encode)), stack: 't' },
        { name: 'decode', data: parts.map((p) => orZero(p.decode)), stack: 't' },
      ],
    }),
  );
  const curve = (xOf: (rows: number[][], i: number) => number) =>
    run.methods.map((m) => ({
      name: m.label,
      dashed: m.id === 'fsdp',
      data: m.steps.map((r, i): [number, number] => [xOf(m.steps, i), stepField(r, 'loss')]),
    }));
  const lossStep = figs.add(
    `${rec.scenario}-loss-step`,
    'Loss vs step',
    lineChartSvg({
      title: 'Training loss vs step',
      caption: cap,
      xName: 'step',
      yName: 'loss',
      series: curve((rows, i) => stepField(rows[i], 'step')),
    }),
  );
  const lossWall = figs.add(
    `${rec.scenario}-loss-wall`,
    'Loss vs wall-clock time',
    lineChartSvg({
      title: 'Training loss vs wall-clock time (cumulative step time)',
      caption: cap,
      xName: 'seconds',
      yName: 'loss',
      series: curve(
        (rows, i) => rows.slice(0, i + 1).reduce((a, r) => a + stepField(r, 'stepMs'), 0) / 1000,
      ),
    }),
  );
  const bytes = figs.add(
    `${rec.scenario}-bytes`,
    'Bytes on the wire per step',
    barChartSvg({
      title: 'Bytes on the wire per step, all ranks (log scale)',
      caption: cap,
      categories: labels,
      yName: 'KiB per step',
      yLog: true,
      horizontal: true,
      series: [
        {
          name: 'wire KiB/step',
          data: run.methods.map((m) => (summaryOf(run, m.key)?.wireBytesPerStep ?? 0) / 1024),
        },
      ],
    }),
  );
  const p = run.profile;
  return [
    `## ${rec.title}`,
    '',
    measuredLine(rec),
    `Profile: ${p.train.steps} steps, world ${p.parallel.worldSize} on ${p.parallel.nodes} nodes, ${p.parallel.sharding}, inter-node ${JSON.stringify(p.network.inter)}, intra-node unshaped.`,
    '',
    methodTable(run),
    '',
    bd,
    '',
    lossStep,
    '',
    lossWall,
    '',
    bytes,
    '',
    '- Step ms = compute (model and optimizer, codec work excluded) + exposed comm (time the compute thread waited for collectives) + encode + decode; means over the timed steps (warm-up and error-probe steps left out). "in rounds": the method runs its own communication rounds (PowerSGD, random-k, int8 with agreed scales) and times each whole round, communication included, as encode; its compute column then includes the codec.',
    ...(run.methods.some((m) => m.predicted) ? [ERROR_NOTE, ...predictionErrorLine(rec)] : []),
    '- Loss gap is relative to the FSDP baseline over the last 5 steps; with only a few steps it shows early divergence, not final quality (the 200-step comparison is `npm run bench:training -- methods`).',
  ].join('\n');
}

function shardingSection(rec: ScenarioRecord, figs: Figures): string {
  const rows: string[][] = [];
  const withPrediction = rec.runs.some((r) => r.methods.some((m) => m.predicted));
  for (const run of rec.runs)
    for (const m of run.methods) {
      const s = summaryOf(run, m.key);
      const b = breakdown(m);
      rows.push([
        run.label,
        m.label,
        fmt(s?.meanStepMs),
        fmt(b.compute + orZero(b.encode) + orZero(b.decode)),
        fmt(b.exposed),
        fmt(s?.meanCommMs),
        kib(s?.wireBytesPerStep),
        fmt(s?.finalLoss, 4),
        speed(s),
        ...(withPrediction ? predictedCells(m, s) : []),
      ]);
    }
  const methodKeys = rec.runs[0]?.methods ?? [];
  const series = methodKeys.flatMap((m) => {
    const parts = rec.runs.map((r) => {
      const mr = r.methods.find((x) => x.key === m.key);
      return mr ? breakdown(mr) : { compute: 0, exposed: 0, encode: 0, decode: 0 };
    });
    return [
      {
        name: `${m.label}: compute + codec`,
        data: parts.map((p) => p.compute + orZero(p.encode) + orZero(p.decode)),
        stack: m.key,
      },
      { name: `${m.label}: exposed comm`, data: parts.map((p) => p.exposed), stack: m.key },
    ];
  });
  const chart = figs.add(
    rec.scenario,
    'Step time per sharding strategy',
    barChartSvg({
      title: 'Step time per sharding strategy',
      caption: caption(rec),
      categories: rec.runs.map((r) => r.label),
      yName: 'ms per step',
      series,
    }),
  );
  return [
    `## ${rec.title}`,
    '',
    measuredLine(rec),
    '',
    mdTable(
      [
        'sharding',
        'method',
        'step ms',
        'compute ms (incl. codec)',
        'exposed comm ms',
        'comm ms',
        'wire/step',
        'final loss',
        'speedup vs FSDP (same strategy)',
        ...(withPrediction ? PREDICTED_HEADERS : []),
      ],
      rows,
    ),
    '',
    chart,
    '',
    ...(withPrediction ? [ERROR_NOTE, ...predictionErrorLine(rec)] : []),
    '- FULL_SHARD gathers parameters before each layer and reduce-scatters gradients; SHARD_GRAD_OP keeps gathered parameters through backward; NO_SHARD all-reduces whole gradients (DDP); HYBRID_SHARD shards within a node and all-reduces across nodes.',
  ].join('\n');
}

function worldSection(rec: ScenarioRecord, figs: Figures): string {
  const runs = [...rec.runs].sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
  const methods = runs[0]?.methods ?? [];
  const withPrediction = runs.some((r) => r.methods.some((m) => m.predicted));
  const rows = runs.map((r) => [
    String(r.x),
    ...methods.flatMap((m) => {
      const s = summaryOf(r, m.key);
      return [
        fmt(s?.meanStepMs),
        ...(withPrediction
          ? predictedCells(
              r.methods.find((x) => x.key === m.key),
              s,
            )
          : []),
        kib(s?.wireBytesPerStep),
        fmt(s?.tokensPerSec, 0),
      ];
    }),
    speed(summaryOf(r, methods.at(-1)?.key ?? '')),
  ]);
  const chart = figs.add(
    rec.scenario,
    'Step time vs world size',
    lineChartSvg({
      title: 'Step time vs world size (2 nodes, 100 Mb/s between them)',
      caption: caption(rec),
      xName: 'ranks',
      yName: 'ms per step',
      series: methods.map((m) => ({
        name: m.label,
        data: runs.map((r): [number, number] => [
          r.x ?? NaN,
          summaryOf(r, m.key)?.meanStepMs ?? NaN,
        ]),
      })),
    }),
  );
  return [
    `## ${rec.title}`,
    '',
    measuredLine(rec),
    '',
    mdTable(
      [
        'world',
        ...methods.flatMap((m) => [
          `${m.label} step ms`,
          ...(withPrediction ? PREDICTED_HEADERS.map((h) => `${m.label} ${h}`) : []),
          `${m.label} wire/step`,
          `${m.label} tokens/s`,
        ]),
        `${methods.at(-1)?.label ?? ''} speedup`,
      ],
      rows,
    ),
    '',
    chart,
    '',
    ...(withPrediction ? [ERROR_NOTE, ...predictionErrorLine(rec)] : []),
    '- Every rank runs on the same 2 cores, so compute per step grows with the world size here; on real hardware each rank has its own device. The comparison that carries over is the communication share and the speedup at each size.',
  ].join('\n');
}

/** The netns comparison: per method, kernel-link step time against the emulated one. */
export function netnsRows(
  rec: ScenarioRecord,
): { label: string; emulated: number; kernel: number; ratio: number }[] {
  const emu = rec.runs.find((r) => r.links === 'emulated');
  const ker = rec.runs.find((r) => r.links === 'kernel');
  if (!emu || !ker) return [];
  return emu.methods.flatMap((m) => {
    const e = summaryOf(emu, m.key)?.meanStepMs;
    const k = summaryOf(ker, m.key)?.meanStepMs;
    return e !== undefined && k !== undefined
      ? [{ label: m.label, emulated: e, kernel: k, ratio: k / e }]
      : [];
  });
}

function netnsSection(rec: ScenarioRecord, figs: Figures): string {
  if (rec.skipped)
    return [`## ${rec.title}`, '', `Skipped on ${rec.measuredAt}: ${rec.skipped}.`].join('\n');
  const emu = rec.runs.find((r) => r.links === 'emulated');
  const ker = rec.runs.find((r) => r.links === 'kernel');
  const cmp = netnsRows(rec);
  const exposed = (run: RunRecord | undefined, key: string) =>
    fmt(run && summaryOf(run, key)?.meanExposedCommMs);
  const comm = (run: RunRecord | undefined, key: string) =>
    fmt(run && summaryOf(run, key)?.meanCommMs);
  const keys = emu?.methods.map((m) => m.key) ?? [];
  const withPrediction = rec.runs.some((r) => r.methods.some((m) => m.predicted));
  const predicted = (run: RunRecord | undefined, key: string) =>
    predictedCells(
      run?.methods.find((m) => m.key === key),
      run && summaryOf(run, key),
    );
  const rows = cmp.map((c, i) => [
    c.label,
    fmt(c.emulated),
    fmt(c.kernel),
    exposed(emu, keys[i]),
    exposed(ker, keys[i]),
    comm(emu, keys[i]),
    comm(ker, keys[i]),
    `${((c.ratio - 1) * 100).toFixed(1)} %`,
    Math.abs(c.ratio - 1) <= NETNS_TOLERANCE ? 'yes' : 'no',
    ...(withPrediction ? [...predicted(emu, keys[i]), ...predicted(ker, keys[i])] : []),
  ]);
  const chart = figs.add(
    rec.scenario,
    'Kernel-shaped links against the transport emulation',
    barChartSvg({
      title: 'Step time: transport emulation vs kernel-shaped links (netns + tc)',
      caption: caption(rec),
      categories: cmp.map((c) => c.label),
      yName: 'ms per step',
      series: [
        { name: 'transport emulation', data: cmp.map((c) => c.emulated) },
        { name: 'kernel links', data: cmp.map((c) => c.kernel) },
      ],
    }),
  );
  const p = ker?.profile ?? emu?.profile;
  const inter = p && typeof p.network.inter !== 'string' ? p.network.inter : undefined;
  const worst = cmp.length ? Math.max(...cmp.map((c) => Math.abs(c.ratio - 1))) : NaN;
  return [
    `## ${rec.title}`,
    '',
    measuredLine(rec),
    ...(inter
      ? [
          `Link: ${inter.gbps * 1000} Mb/s, ${inter.latencyUs} us one way, between ${p!.parallel.nodes} hosts (${p!.parallel.worldSize / p!.parallel.nodes} rank(s) each); ${p!.train.steps} steps per method.`,
        ]
      : []),
    ...(ker?.linkNote ? [`Kernel links: ${ker.linkNote}.`] : []),
    '',
    mdTable(
      [
        'method',
        'emulated step ms',
        'kernel step ms',
        'emulated exposed comm ms',
        'kernel exposed comm ms',
        'emulated comm ms',
        'kernel comm ms',
        'kernel vs emulated (step)',
        `within ${NETNS_TOLERANCE * 100} %`,
        ...(withPrediction
          ? ['emulated', 'kernel'].flatMap((l) => PREDICTED_HEADERS.map((h) => `${l} ${h}`))
          : []),
      ],
      rows,
    ),
    '',
    chart,
    '',
    `- Largest gap: ${pct(worst)} (acceptance: within ${NETNS_TOLERANCE * 100} %).`,
    ...(withPrediction
      ? [
          `${ERROR_NOTE} Kernel links are predicted at the same link figures (the transport runs them unemulated).`,
          ...predictionErrorLine(rec),
        ]
      : []),
    ...cmp.flatMap((c, i) => {
      if (Math.abs(c.ratio - 1) <= NETNS_TOLERANCE) return [];
      const e = emu && summaryOf(emu, keys[i]);
      const k = ker && summaryOf(ker, keys[i]);
      if (!e || !k) return [];
      const ce = e.meanStepMs - e.meanExposedCommMs;
      const ck = k.meanStepMs - k.meanExposedCommMs;
      return [
        `- ${c.label}: step ${pct(c.ratio - 1)} apart; time in collectives ${pct(k.meanCommMs / e.meanCommMs - 1)} apart, compute-thread time outside communication ${fmt(ce, 0)} ms emulated vs ${fmt(ck, 0)} ms on kernel links (${pct(ck / ce - 1)}): ${Math.abs(ck / ce - 1) > Math.abs(k.meanCommMs / e.meanCommMs - 1) ? 'the gap is in compute, not on the link' : 'the gap is on the link'}.`,
      ];
    }),
    "- Each host is a network namespace with a veth to a bridge in a switch namespace; each host's egress is shaped by tbf (rate), and by netem (delay) where the kernel provides it. The emulation paces every directed link in the transport (token bucket over 256 KiB+ fragments, then the latency). For 2 hosts both shape the same single link per direction.",
    '- Known differences between the two: tbf counts Ethernet, IP and TCP headers (about 4 % of a full segment) where the emulation counts payload bytes; the emulation releases whole fragments on a 1 ms timer where tbf releases packets; without netem the kernel link carries no added delay; TCP congestion control only acts on the kernel link (the emulation queues in the sender). Steps include compute on 2 shared cores, whose noise between runs is of the same order as these effects.',
  ].join('\n');
}

/** Seeds, warm-up and every hyper-parameter, per scenario and per method. */
function settingsSection(records: ScenarioRecord[]): string {
  const trainRows = records.flatMap((rec) =>
    rec.runs.slice(0, 1).map((run) => {
      const p = run.profile;
      const t = p.train;
      const model = 'preset' in p.model ? p.model.preset : `${p.model.layers}L d${p.model.dModel}`;
      return [
        rec.scenario,
        model,
        `${p.data.corpus} (seed ${p.data.seed})`,
        String(t.seed),
        String(t.steps),
        String(t.batchPerRank),
        String(t.lr),
        String(t.warmupSteps),
        String(t.weightDecay),
        String(t.gradClip),
        String(rec.warmupSteps),
        `${[...new Set(rec.runs.map((r) => r.backend))].join(', ')} (profile: ${p.backend})`,
      ];
    }),
  );
  const seen = new Map<string, string[]>();
  for (const rec of records)
    for (const run of rec.runs)
      for (const m of run.methods) {
        const params = JSON.stringify(m.params);
        const ef = JSON.stringify(m.errorFeedback);
        const id = `${m.label}|${params}|${ef}`;
        const row = seen.get(id) ?? [
          m.label,
          m.id,
          params === '{}' ? '' : `\`${params}\``,
          `\`${ef}\``,
          '',
        ];
        const used = new Set(row[4] ? row[4].split(', ') : []);
        used.add(rec.scenario);
        row[4] = [...used].join(', ');
        seen.set(id, row);
      }
  const list = SCENARIOS.map((s) => {
    const rec = records.find((r) => r.scenario === s.name);
    const state = rec
      ? rec.skipped
        ? `skipped (${rec.skipped})`
        : `${rec.measuredAt.slice(0, 16)}Z, ${(rec.durationSec / 60).toFixed(1)} min`
      : 'not measured';
    return [s.name, s.default ? 'default' : 'opt-in', s.question, state];
  });
  const total = records.reduce((a, r) => a + r.durationSec, 0);
  return [
    '## Benchmark suite',
    '',
    `\`npm run bench\` runs the default scenarios (profiles in [benchmarks/suite/scenarios.ts](benchmarks/suite/scenarios.ts)) and keeps a compact record of every run in \`benchmarks/results/suite/\`; \`npm run bench:report\` regenerates these sections and the figures in \`docs/benchmarks/\` from those records without running anything. Recorded scenarios took ${(total / 60).toFixed(1)} min in all.`,
    '',
    mdTable(['scenario', 'in `npm run bench`', 'question', 'measured'], list),
    '',
    '### Training settings and seeds',
    '',
    mdTable(
      [
        'scenario',
        'model',
        'data (seed)',
        'train seed',
        'steps',
        'batch/rank',
        'lr',
        'lr warm-up steps',
        'weight decay',
        'grad clip',
        'timing warm-up steps',
        'backend',
      ],
      trainRows,
    ),
    '',
    'Timings leave out the first warm-up steps of every method (wasm compilation, allocator growth) and every 10th step, which runs one extra uncompressed reduction to measure the compression error. Every method in a run uses the same seed, data order and link as its FSDP baseline.',
    '',
    '### Method hyper-parameters (registry defaults filled in)',
    '',
    mdTable(['method', 'id', 'params', 'error feedback', 'scenarios'], [...seen.values()]),
  ].join('\n');
}

const SECTION_BUILDERS: Record<string, (rec: ScenarioRecord, figs: Figures) => string> = {
  bandwidth: crossoverSection,
  method: methodsSection,
  sharding: shardingSection,
  world: worldSection,
  links: netnsSection,
  engine: (rec) => enginesSection(rec, { measured: measuredLine(rec), fmt, kib }),
};

export async function generateReport(opts: ReportOptions = {}): Promise<ReportOutput> {
  const file = opts.benchmarksFile ?? BENCHMARKS_FILE;
  const figs = new Figures(opts.figuresDir ?? FIGURES_DIR, file);
  const records = readScenarioRecords(opts.resultsDir ?? RESULTS_DIR);
  const sections: string[] = [];
  writeSection('suite', settingsSection(records), file);
  sections.push('suite');
  for (const rec of records) {
    const build = SECTION_BUILDERS[rec.axis];
    if (!build) throw new Error(`${rec.scenario}: unknown axis "${rec.axis}" in its record`);
    const name = `suite-${rec.scenario}`;
    const body =
      rec.skipped && rec.axis !== 'links'
        ? `## ${rec.title}\n\nSkipped: ${rec.skipped}.`
        : build(rec, figs);
    writeSection(name, body, file);
    sections.push(name);
  }
  return { sections, figures: figs.written };
}
