/**
 * Pipeline parallelism and Optimus-CC, through the real launcher (one process per rank), written
 * to BENCHMARKS.md (section "pipeline"):
 *   node dist/benchmarks/training/bench-pipeline.js [--steps N] [--variants A,B] [--no-write]
 * The uncompressed 2-stage x 2-data-parallel pipeline, then Optimus-CC with all three techniques
 * and with each one turned off in turn (and lazy error propagation off), nano GPT with tied
 * embeddings, the inter-stage links emulated at 1 Gb/s. `--variants` runs only those (by label;
 * "baseline" for the uncompressed pipeline) and keeps every variant's row in
 * benchmarks/training/pieces/pipeline.json, so the scenario can run in several shorter calls;
 * the section is written from every stored row of the same profile.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRun } from '../../engine/app/launcher.js';
import type { MethodSummary } from '../../engine/app/metrics.js';
import { parseProfile, type ProfileInput } from '../../engine/app/profile.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { packageRoot } from '../../engine/runtime-path.js';
import { machineLine, mdTable, writeSection } from '../report.js';

const ALL_ON = {
  compressBackprop: true,
  lazyError: true,
  fuseEmbedding: true,
  selective: true,
  rank: 4,
};

const VARIANTS: { label: string; params: Record<string, unknown> }[] = [
  { label: 'Optimus-CC (all)', params: ALL_ON },
  { label: 'no compressed backprop', params: { ...ALL_ON, compressBackprop: false } },
  { label: 'no lazy error', params: { ...ALL_ON, lazyError: false } },
  { label: 'no fused embedding sync', params: { ...ALL_ON, fuseEmbedding: false } },
  { label: 'no selective (compress every transfer)', params: { ...ALL_ON, selective: false } },
];

function profileFor(steps: number, variants: typeof VARIANTS, baseline: boolean): ProfileInput {
  return {
    name: 'pipeline-optimus-cc',
    model: { preset: 'nano', tied: true },
    train: { steps, batchPerRank: 8, lr: 3e-3, warmupSteps: 10 },
    // Ranks 0, 1 (replica 0) and 2, 3 (replica 1): each pipeline on one emulated node, so the
    // inter-stage links are the intra-node tier; data-parallel traffic crosses nodes.
    parallel: {
      worldSize: 4,
      nodes: 2,
      sharding: 'NO_SHARD',
      pipelineStages: 2,
      microBatches: 4,
    },
    network: { intra: '1GbE', inter: '1GbE' },
    baseline,
    methods: variants.map((v) => ({ id: 'optimus-cc', label: v.label, params: v.params })),
  };
}

interface Row {
  summary: MethodSummary;
  /** Mean over ranks and steps of the activation-gradient compression error. */
  backpropRelError?: number;
  measuredAt: string;
  machine: string;
}

interface Store {
  profileKey: string;
  rows: Record<string, Row>;
}

const STORE = path.join(packageRoot, 'benchmarks', 'training', 'pieces', 'pipeline.json');

const fmt = (x: number | undefined, d = 1): string =>
  x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d);

function load(profileKey: string): Store {
  const s = existsSync(STORE) ? (JSON.parse(readFileSync(STORE, 'utf8')) as Store) : null;
  return s?.profileKey === profileKey ? s : { profileKey, rows: {} };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '200' },
      variants: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
    },
  });
  const steps = Number(values.steps);
  const wanted = values.variants?.split(',').map((s) => s.trim());
  const variants = VARIANTS.filter((v) => !wanted || wanted.includes(v.label));
  const baseline = !wanted || wanted.includes('baseline');
  if (wanted && variants.length === 0 && !baseline)
    throw new Error(
      `--variants: none of ${wanted.join(', ')} is known; use baseline, ${VARIANTS.map((v) => v.label).join(', ')}`,
    );
  const profile = parseProfile(profileFor(steps, variants, baseline));
  const profileKey = JSON.stringify({ ...profile, methods: [], baseline: true });
  const home = mkdtempSync(path.join(os.tmpdir(), 'gradbench-bench-'));
  const machine = machineLine();
  const t0 = Date.now();
  const handle = await startRun(profile, {
    home,
    onEvent: (e) => {
      if (e.type === 'method-start')
        process.stderr.write(`[${e.index + 1}/${e.total}] ${e.label}\n`);
      if (e.type === 'progress' && (e.step + 1) % 20 === 0)
        process.stderr.write(
          `  step ${e.step + 1}/${e.steps} loss ${e.loss.toFixed(4)} ${e.stepMs.toFixed(0)} ms/step\n`,
        );
    },
  });
  const summary = await handle.done;
  const detail = await new RunsStore(home).get(handle.id);
  const store = load(profileKey);
  for (const m of summary.methods) {
    const errs = detail.metrics
      .filter((l) => l.method === m.method && l.stats?.backpropRelError !== undefined)
      .map((l) => l.stats!.backpropRelError);
    store.rows[m.method === 'fsdp' ? 'baseline' : m.label] = {
      summary: m,
      ...(errs.length ? { backpropRelError: errs.reduce((a, b) => a + b, 0) / errs.length } : {}),
      measuredAt: new Date().toISOString(),
      machine,
    };
  }
  mkdirSync(path.dirname(STORE), { recursive: true });
  writeFileSync(STORE, `${JSON.stringify(store, null, 2)}\n`);
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  process.stderr.write(`done in ${minutes} min\n`);
  const body = report(store, steps);
  process.stdout.write(`${body}\n`);
  if (!values['no-write']) writeSection('pipeline', body);
}

function report(store: Store, steps: number): string {
  const base = store.rows.baseline?.summary;
  const order = ['baseline', ...VARIANTS.map((v) => v.label)].filter((k) => store.rows[k]);
  const rows = order.map((k) => {
    const r = store.rows[k];
    const m = r.summary;
    const isBase = k === 'baseline';
    const inter = m.interStageBytesPerStep;
    const interRaw = m.interStageRawBytesPerStep;
    return [
      isBase ? 'uncompressed pipeline' : m.label,
      m.status,
      m.steps,
      fmt(m.meanStepMs),
      fmt(m.meanBubbleMs),
      fmt(m.meanExposedCommMs),
      inter === undefined ? '' : `${(inter / 1024).toFixed(1)} KiB`,
      base?.interStageBytesPerStep && inter
        ? `${(base.interStageBytesPerStep / inter).toFixed(2)}x`
        : '',
      interRaw && inter ? `${(interRaw / inter).toFixed(2)}x` : '',
      `${(m.wireBytesPerStep / 1024).toFixed(1)} KiB`,
      fmt(r.backpropRelError, 3),
      fmt(m.finalLoss, 4),
      base && !isBase
        ? `${(((m.finalLoss - base.finalLoss) / base.finalLoss) * 100).toFixed(1)} %`
        : '',
      base && !isBase ? `${(base.meanStepMs / m.meanStepMs).toFixed(3)}x` : '',
    ];
  });
  const first = store.rows[order[0]];
  return [
    '## Pipeline parallelism and Optimus-CC (nano, tied embeddings, 2 stages x 2 data-parallel ranks, 1 Gb/s links)',
    '',
    `${steps} steps, batch 8 per data-parallel replica in 4 micro-batches of 2 (1F1B), rank = dp x 2 + stage. Each row is one method of one launcher run (\`node dist/benchmarks/training/bench-pipeline.js\`); rows measured ${[...new Set(order.map((k) => store.rows[k].measuredAt.slice(0, 16)))].join(', ')} on: ${first?.machine ?? ''}. Other work shared the 2 cores during these runs: step times are noisy.`,
    '',
    mdTable(
      [
        'variant',
        'status',
        'steps',
        'step ms',
        'bubble ms / stage',
        'exposed comm ms',
        'inter-stage / step',
        'vs uncompressed',
        'vs own fp32',
        'all wire / step',
        'backprop rel. error',
        'final loss',
        'loss gap',
        'speedup',
      ],
      rows,
    ),
    '',
    '- Inter-stage bytes: activations (forward, always exact) plus activation gradients (backward), summed over the ranks, per step; "vs own fp32" divides the same transfers in fp32 by what was sent. Optimus-CC compresses only the backward half, so the forward activations bound the total reduction; the backward traffic alone shrinks by (rows x dModel) / (rank x (rows + dModel)) = 128 x 64 / (4 x 192) = 10.7x per compressed transfer.',
    '- Selective compression compresses the gradient transfers on the critical path of the 1F1B schedule (here micro-batches 0, 1 and 3 of 4; the third overlaps with compute) and sends the rest exact, carrying the pending lazy error along.',
    '- "all wire" adds the data-parallel gradient all-reduce and the tied-embedding synchronisation (exchanged between the end stages, or one PowerSGD rank-4 all-reduce over both end stages\' data-parallel ranks when fused).',
    '- Loss: mean of the last 5 steps; gap and speedup are against the uncompressed pipeline (same seed, data, global batch and link). Timings exclude the first 2 steps.',
  ].join('\n');
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
