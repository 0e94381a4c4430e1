/**
 * Training benchmarks through the real launcher (one process per rank), written to BENCHMARKS.md:
 *   npm run bench:training -- overlap   FSDP on micro, 2 nodes x 2 ranks, 1 Gb/s between nodes:
 *                                       exposed vs total communication (prefetch overlap)
 *   npm run bench:training -- methods   every compression method on micro, 4 ranks, 200 steps:
 *                                       final loss against the FSDP baseline, bytes, errors
 * Options: --steps N (override), --no-write.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRun } from '../../engine/app/launcher.js';
import type { MethodSummary, MetricLine } from '../../engine/app/metrics.js';
import { parseProfile, type ProfileInput } from '../../engine/app/profile.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { machineLine, mdTable, writeSection } from '../report.js';

const SCENARIOS: Record<string, { profile: ProfileInput; title: string; notes: string[] }> = {
  tagc: {
    title: 'TAGC and LHC against FSDP at 100 Mb/s between nodes (micro, 2 nodes x 2 ranks)',
    profile: {
      name: 'tagc-micro-100mbps',
      model: { preset: 'micro' },
      train: { steps: 200, batchPerRank: 8, lr: 3e-3, warmupSteps: 10 },
      parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
      network: { intra: 'off', inter: { gbps: 0.1, latencyUs: 100 } },
      methods: [
        { id: 'tagc' },
        { id: 'lhc' },
        { id: 'tagc', label: 'TAGC (compress all layers)', params: { compressAll: true } },
      ],
    },
    notes: [
      'The communication fraction of the FSDP baseline is (exposed comm ms) / (step ms): the regime the TAGC paper reports on is 30-60 %.',
      'TAGC defaults: sparsify_fraction 0.8, 1-bit index, compress_ratio 2, attention and norms sent fp32.',
    ],
  },
  overlap: {
    title: 'FSDP prefetch overlap on an emulated 1 Gb/s inter-node link',
    profile: {
      name: 'overlap-micro-1gbe',
      model: { preset: 'micro' },
      train: { steps: 30, batchPerRank: 8 },
      parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
      network: { intra: 'off', inter: '1GbE' },
    },
    notes: [
      'Total communication is the time the comm worker spends in collectives; exposed communication is the part the compute thread waits for. Exposed < total means the all-gather prefetch and the reduce-scatters issued during backward overlap with compute.',
    ],
  },
  methods: {
    title: 'Compression methods in 4-rank FSDP training (micro, 200 steps)',
    profile: {
      name: 'methods-micro-200',
      model: { preset: 'micro' },
      train: { steps: 200, batchPerRank: 2, lr: 3e-3, warmupSteps: 10 },
      parallel: { worldSize: 4, nodes: 1, sharding: 'FULL_SHARD' },
      network: { intra: 'off', inter: 'off' },
      methods: [
        { id: 'fp16' },
        { id: 'bf16' },
        { id: 'int8' },
        { id: 'int8', label: 'int8 (agreed scales)', params: { scale: 'agreed' } },
        { id: 'int4' },
        { id: 'topk' },
        {
          id: 'topk',
          label: 'top-k + EControl(0.5)',
          errorFeedback: { mode: 'econtrol', eta: 0.5 },
        },
        { id: 'randomk' },
        { id: 'dgc' },
        { id: 'powersgd' },
        { id: 'signsgd' },
        { id: 'qsgd' },
        { id: 'terngrad' },
        { id: 'lhc' },
        { id: 'tagc' },
      ],
    },
    notes: [
      'Same seed, data order and global batch (4 x 2 sequences of 128 characters) for every method; defaults from the method registry (top-k and random-k keep 1 %, DGC 99.9 % sparsity after warm-up, PowerSGD rank 4, QSGD 16 levels, blocks of 256).',
      'Loss is the mean of the last 5 steps over ranks; "gap" is relative to the FSDP baseline. Timings exclude the first 2 steps and the steps that probed the compression error (every 10th step runs one extra uncompressed reduction).',
      'No link emulation here: this table is about quality and bytes. Speedups need a slow link (see the overlap and emulated scenarios).',
    ],
  },
};

const fmt = (x: number | undefined, d = 1): string =>
  x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d);

function methodRows(methods: MethodSummary[], lines: MetricLine[]): (string | number)[][] {
  return methods.map((m) => {
    const errs = lines
      .filter((l) => l.method === m.method && l.relError !== undefined)
      .map((l) => l.relError!);
    const meanErr = errs.length ? errs.reduce((a, b) => a + b, 0) / errs.length : undefined;
    return [
      m.label,
      m.status,
      m.steps,
      fmt(m.meanStepMs),
      fmt(m.meanComputeMs),
      fmt(m.meanExposedCommMs),
      fmt(m.meanCommMs),
      `${(m.wireBytesPerStep / 1024).toFixed(1)} KiB`,
      fmt(m.compressionRatio, 2),
      fmt(meanErr, 4),
      fmt(m.finalLoss, 4),
      m.lossGapVsBaseline === undefined ? '' : `${(m.lossGapVsBaseline * 100).toFixed(1)} %`,
      m.speedupVsBaseline === undefined ? '' : `${m.speedupVsBaseline.toFixed(3)}x`,
    ];
  });
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { steps: { type: 'string' }, 'no-write': { type: 'boolean', default: false } },
  });
  const name = positionals[0] ?? 'overlap';
  const scenario = SCENARIOS[name];
  if (!scenario)
    throw new Error(`unknown scenario "${name}"; use one of ${Object.keys(SCENARIOS).join(', ')}`);
  const input = structuredClone(scenario.profile);
  if (values.steps) input.train = { ...input.train, steps: Number(values.steps) };
  const profile = parseProfile(input);
  const home = mkdtempSync(path.join(os.tmpdir(), 'gradbench-bench-'));
  const machine = machineLine();
  const t0 = Date.now();
  const handle = await startRun(profile, {
    home,
    onEvent: (e) => {
      if (e.type === 'method-start')
        process.stderr.write(`[${e.index + 1}/${e.total}] ${e.label}\n`);
      if (e.type === 'progress' && (e.step + 1) % 10 === 0)
        process.stderr.write(
          `  step ${e.step + 1}/${e.steps} loss ${e.loss.toFixed(4)} ${e.stepMs.toFixed(0)} ms/step\n`,
        );
    },
  });
  const summary = await handle.done;
  const detail = await new RunsStore(home).get(handle.id);
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  const body = [
    `## ${scenario.title}`,
    '',
    `Measured by \`npm run bench:training -- ${name}\` on ${new Date().toISOString()} (${minutes} min), backend ${detail.metrics[0]?.backend ?? '?'}, run status ${summary.status}${summary.error ? ` (${summary.error.split('\n')[0]})` : ''}.`,
    `Machine: ${machine}.`,
    `Profile: ${profile.model && 'preset' in profile.model ? profile.model.preset : 'custom'} model, world ${profile.parallel.worldSize} (${profile.parallel.nodes} node(s)), ${profile.parallel.sharding}, network intra ${JSON.stringify(profile.network.intra)} / inter ${JSON.stringify(profile.network.inter)}, ${profile.train.steps} steps, batch ${profile.train.batchPerRank} per rank, seed ${profile.train.seed}.`,
    '',
    mdTable(
      [
        'method',
        'status',
        'steps',
        'step ms',
        'compute ms',
        'exposed comm ms',
        'comm ms',
        'wire/step',
        'ratio',
        'rel. error',
        'final loss',
        'gap',
        'speedup',
      ],
      methodRows(summary.methods, detail.metrics),
    ),
    '',
    ...scenario.notes.map((n) => `- ${n}`),
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (!values['no-write']) writeSection(`training-${name}`, body);
}

main().catch((e: Error) => {
  process.stderr.write(`bench:training: ${e.message}\n`);
  process.exit(1);
});
