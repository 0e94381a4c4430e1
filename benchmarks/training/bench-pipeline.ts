/**
 * Pipeline parallelism and Optimus-CC, through the real launcher (one process per rank), written
 * to BENCHMARKS.md (section "pipeline"):
 *   node dist/benchmarks/training/bench-pipeline.js [--scenario plain|target] [--steps N]
 *     [--variants A,B] [--no-write] [--write-only]
 * The uncompressed 2-stage x 2-data-parallel pipeline, then Optimus-CC with every technique on
 * (the paper's three plus the int8-transfer extension), the paper's techniques alone, and each
 * technique turned off in turn; nano GPT with tied embeddings, every link 1 Gb/s.
 * Scenarios:
 * - plain: the links emulated at 1 Gb/s as they are. On this CPU a step's compute is ~10^5 times
 *   a GPU's, so 1 Gb/s is nearly free here: the row is kept to show that.
 * - target: the same profile with `network.target` = TARGET_CLUSTER (4 servers with one GPU each,
 *   1 Gb/s Ethernet between them): the launcher probes this box's compute and slows the links by
 *   the box / GPU compute ratio, so the run's compute : communication is the cluster's.
 * `--variants` runs only those (by label; "baseline" for the uncompressed pipeline); every row is
 * kept in benchmarks/training/pieces/pipeline.json per scenario, so a scenario can run in several
 * shorter calls; the section is written from every stored row of the same profiles
 * (`--write-only`: just that, without running).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRun } from '../../engine/app/launcher.js';
import type { MethodSummary } from '../../engine/run/metrics.js';
import { measured } from '../../engine/run/summary.js';
import { parseProfile, type ProfileInput } from '../../engine/run/profile.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import type { ClusterInput } from '../../engine/run/cluster.js';
import { EmulationRecordSchema, type EmulationRecord } from '../../engine/run/target.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { machineLine, mdTable, writeSection } from '../report.js';

const PAPER = {
  compressBackprop: true,
  lazyError: true,
  fuseEmbedding: true,
  selective: true,
  rank: 4,
};
const ALL_ON = { ...PAPER, int8Transfers: true };

const VARIANTS: { label: string; params: Record<string, unknown> }[] = [
  { label: 'Optimus-CC + int8 transfers (all on)', params: ALL_ON },
  { label: "paper's techniques only (no int8 transfers)", params: PAPER },
  { label: 'no compressed backprop', params: { ...ALL_ON, compressBackprop: false } },
  { label: 'no lazy error', params: { ...ALL_ON, lazyError: false } },
  { label: 'no fused embedding sync', params: { ...ALL_ON, fuseEmbedding: false } },
  { label: 'no selective (compress every transfer)', params: { ...ALL_ON, selective: false } },
];

/**
 * The cluster the `cluster` scenario stands for: 2 servers with one A100 each, 1 Gb/s Ethernet
 * between them (the 1GbE preset: 1 Gb/s, 50 us), one stage per server. The GPU figure is what an
 * A100 sustains on this 0.1 M-parameter model, not its peak: a nano step (~1 GFLOP at batch 16)
 * is a few hundred tiny kernels, launch-bound at ~10 us each, a few ms per step; 0.06 % of 312
 * TFLOP/s (0.19 TFLOP/s) puts it at 5 ms.
 */
const TARGET_CLUSTER: ClusterInput = {
  name: '2x1-a100-1gbe (nano, launch-bound)',
  description:
    '2 servers with one A100 each, 1 Gb/s Ethernet between them, one pipeline stage per server; the A100 sustaining ~0.19 TFLOP/s on the nano GPT (kernel-launch bound, an assumption)',
  nodes: 2,
  gpusPerNode: 1,
  gpu: { name: 'A100', tflops: 312, efficiency: 0.0006 },
  intra: 'PCIe4x16',
  inter: '1GbE',
};

/**
 * plain: 2 stages x 2 data-parallel replicas, ranks 0, 1 (replica 0) and 2, 3 (replica 1) on two
 *   emulated nodes, every link 1 Gb/s as it is.
 * cluster: TARGET_CLUSTER through `network.target`: 2 stages, no data parallelism (the same
 *   global batch, 16, in one replica), each stage on its own server; the launcher replaces both
 *   tiers with the cluster's links slowed by this box's compute / the GPU's.
 * cluster-plain: the cluster's layout with its 1 Gb/s link as it is (what the CPU sees).
 */
const SCENARIOS = ['plain', 'cluster', 'cluster-plain'] as const;
type Scenario = (typeof SCENARIOS)[number];

function profileFor(
  scenario: Scenario,
  steps: number,
  variants: typeof VARIANTS,
  baseline: boolean,
): ProfileInput {
  const dp = scenario === 'plain' ? 2 : 1;
  return {
    name: `pipeline-optimus-cc-${scenario}`,
    model: { preset: 'nano', tied: true },
    train: { steps, batchPerRank: 16 / dp, lr: 3e-3, warmupSteps: 10 },
    parallel: {
      worldSize: 2 * dp,
      nodes: 2,
      sharding: 'NO_SHARD',
      pipelineStages: 2,
      microBatches: 4,
    },
    network:
      scenario === 'cluster'
        ? { intra: '1GbE', inter: '1GbE', target: { cluster: TARGET_CLUSTER } }
        : { intra: '1GbE', inter: '1GbE' },
    baseline,
    methods: variants.map((v) => ({ id: 'optimus-cc', label: v.label, params: v.params })),
  };
}

interface Row {
  summary: MethodSummary;
  /** Means over ranks and steps of the activation-gradient and activation coding errors. */
  backpropRelError?: number;
  activationRelError?: number;
  /** Target scenario: the links this row's run was emulated with. */
  emulation?: EmulationRecord;
  measuredAt: string;
  machine: string;
}

interface ScenarioStore {
  profileKey: string;
  rows: Record<string, Row>;
}

type Store = Partial<Record<Scenario, ScenarioStore>>;

const STORE = path.join(packageRoot, 'benchmarks', 'training', 'pieces', 'pipeline.json');

const fmt = (x: number | undefined, d = 1): string =>
  x === undefined || !Number.isFinite(x) ? '' : x.toFixed(d);

function loadStore(): Store {
  if (!existsSync(STORE)) return {};
  const s = JSON.parse(readFileSync(STORE, 'utf8')) as Record<string, ScenarioStore>;
  // Only the scenarios this file knows (a store from before scenarios existed has none).
  return Object.fromEntries(SCENARIOS.filter((k) => s[k]?.rows).map((k) => [k, s[k]]));
}

const meanOf = (xs: number[]): number | undefined =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'plain' },
      steps: { type: 'string', default: '200' },
      variants: { type: 'string' },
      'no-write': { type: 'boolean', default: false },
      'write-only': { type: 'boolean', default: false },
    },
  });
  if (values['write-only']) {
    writeSection('pipeline', report(loadStore()));
    return;
  }
  const scenario = values.scenario as Scenario;
  if (!SCENARIOS.includes(scenario))
    throw new Error(`--scenario: use ${SCENARIOS.join(', ')}, got "${values.scenario}"`);
  const steps = Number(values.steps);
  const wanted = values.variants?.split(',').map((s) => s.trim());
  const variants = VARIANTS.filter((v) => !wanted || wanted.includes(v.label));
  const baseline = !wanted || wanted.includes('baseline');
  if (wanted && variants.length === 0 && !baseline)
    throw new Error(
      `--variants: none of ${wanted.join(', ')} is known; use baseline, ${VARIANTS.map((v) => v.label).join(', ')}`,
    );
  const profile = parseProfile(profileFor(scenario, steps, variants, baseline));
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
  const config = JSON.parse(readFileSync(path.join(detail.dir, 'config.json'), 'utf8')) as {
    emulation?: unknown;
  };
  const emulation =
    config.emulation !== undefined ? EmulationRecordSchema.parse(config.emulation) : undefined;
  if (emulation)
    process.stderr.write(
      `emulated for ${emulation.cluster.name}: scale ${emulation.scale.toFixed(1)}, links ${emulation.inter.gbps.toPrecision(3)} Gb/s, ${emulation.inter.latencyUs.toPrecision(3)} us\n`,
    );
  const store = loadStore();
  const own =
    store[scenario]?.profileKey === profileKey ? store[scenario]! : { profileKey, rows: {} };
  for (const m of summary.methods) {
    const lines = detail.metrics.filter((l) => l.method === m.method);
    const stat = (k: string): number | undefined =>
      meanOf(lines.map((l) => l.stats?.[k]).filter((x): x is number => x !== undefined));
    const backpropRelError = stat('backpropRelError');
    const activationRelError = stat('activationRelError');
    own.rows[m.method === 'fsdp' ? 'baseline' : m.label] = {
      summary: m,
      ...(backpropRelError !== undefined ? { backpropRelError } : {}),
      ...(activationRelError !== undefined ? { activationRelError } : {}),
      ...(emulation ? { emulation } : {}),
      measuredAt: new Date().toISOString(),
      machine,
    };
  }
  store[scenario] = own;
  mkdirSync(path.dirname(STORE), { recursive: true });
  writeFileSync(STORE, `${JSON.stringify(store, null, 2)}\n`);
  const minutes = ((Date.now() - t0) / 60000).toFixed(1);
  process.stderr.write(`done in ${minutes} min\n`);
  const body = report(store);
  process.stdout.write(`${body}\n`);
  if (!values['no-write']) writeSection('pipeline', body);
}

function table(s: ScenarioStore): string {
  const baseRecord = s.rows.baseline?.summary;
  const base = baseRecord && measured(baseRecord);
  const order = ['baseline', ...VARIANTS.map((v) => v.label)].filter((k) => s.rows[k]);
  const rows = order.map((k) => {
    const r = s.rows[k];
    const m = measured(r.summary);
    const isBase = k === 'baseline';
    const inter = m.interStageBytesPerStep;
    const interRaw = m.interStageRawBytesPerStep;
    return [
      isBase ? 'uncompressed pipeline' : m.label,
      m.status,
      m.steps,
      fmt(m.meanStepMs),
      fmt(m.meanComputeMs),
      fmt(m.meanBubbleMs),
      fmt(m.meanExposedCommMs),
      inter === undefined ? '' : `${(inter / 1024).toFixed(1)} KiB`,
      base?.interStageBytesPerStep && inter
        ? `${(base.interStageBytesPerStep / inter).toFixed(2)}x`
        : '',
      interRaw && inter ? `${(interRaw / inter).toFixed(2)}x` : '',
      `${(m.wireBytesPerStep / 1024).toFixed(1)} KiB`,
      fmt(r.backpropRelError, 3),
      fmt(r.activationRelError, 4),
      fmt(m.finalLoss, 4),
      base && !isBase
        ? `${(((m.finalLoss - base.finalLoss) / base.finalLoss) * 100).toFixed(1)} %`
        : '',
      // Step times compare only under the same emulated links (one probe, one scale).
      base && !isBase && r.emulation?.scale === s.rows.baseline.emulation?.scale
        ? `${(base.meanStepMs / m.meanStepMs).toFixed(3)}x`
        : '',
    ];
  });
  return mdTable(
    [
      'variant',
      'status',
      'steps',
      'step ms',
      'compute ms',
      'bubble ms / stage',
      'exposed comm ms',
      'inter-stage / step',
      'vs uncompressed',
      'vs own fp32',
      'all wire / step',
      'backprop rel. error',
      'activation rel. error',
      'final loss',
      'loss gap',
      'speedup',
    ],
    rows,
  );
}

/** When and where a scenario's rows were measured. */
function provenance(s: ScenarioStore): string {
  const rows = Object.values(s.rows);
  const times = [...new Set(rows.map((r) => r.measuredAt.slice(0, 16)))].join(', ');
  return `rows measured ${times} on: ${[...new Set(rows.map((r) => r.machine))].join('; ')}`;
}

function emulationLine(s: ScenarioStore): string {
  const e = Object.values(s.rows).map((r) => r.emulation);
  const scales = e.filter((x): x is EmulationRecord => x !== undefined);
  if (!scales.length) return '';
  const c = scales[0].cluster as { name: string; description?: string };
  const gbps = scales.map((x) => x.inter.gbps * 1000);
  const box = scales.map((x) => x.boxComputeMs);
  const lat = scales.map((x) => x.inter.latencyUs / 1000);
  const range = (xs: number[], d: number): string => {
    const [a, b] = [Math.min(...xs).toFixed(d), Math.max(...xs).toFixed(d)];
    return a === b ? a : `${a}-${b}`;
  };
  return `Stands for **${c.name}**: ${c.description ?? ''}. One step of this model and batch takes ${scales[0].targetComputeMs.toFixed(2)} ms of compute on that GPU (FLOPs / sustained rate); this box's, probed before each run (${scales[0].probe}), was ${range(box, 0)} ms, so the link was slowed by ${range(
    scales.map((x) => x.scale),
    0,
  )}x: the cluster's 1 Gb/s, 50 us ran at ${range(gbps, 1)} Mb/s and ${range(lat, 1)} ms. Speedups here are what the cluster would see, as far as compute : communication decides them.`;
}

function report(store: Store): string {
  const steps = [
    ...new Set(
      Object.values(store).flatMap((sc) => Object.values(sc.rows).map((r) => r.summary.steps)),
    ),
  ].join(' / ');
  const out = [
    '## Pipeline parallelism and Optimus-CC (nano, tied embeddings, 2 pipeline stages, 1 Gb/s links)',
    '',
    `${steps} steps, global batch 16 in 4 micro-batches per replica (1F1B), rank = dp x 2 + stage. Each row is one method of one launcher run (\`node dist/benchmarks/training/bench-pipeline.js --scenario ${SCENARIOS.join('|')}\`). Other work shared the 2 cores during these runs: step times are noisy.`,
  ];
  if (store.cluster) {
    out.push(
      '',
      '### On a 2-server 1 Gb/s cluster: ratio-preserving emulation (`network.target`), 2 stages x 1 replica',
      '',
      `${emulationLine(store.cluster)} ${provenance(store.cluster)}.`,
      '',
      table(store.cluster),
    );
  }
  if (store['cluster-plain']) {
    out.push(
      '',
      "### The same 2 stages x 1 replica with this box's link at 1 Gb/s as it is",
      '',
      `A step's compute on this CPU is ~10^5 times a GPU's, so at 1 Gb/s the pipeline's traffic is a small part of a step and compression barely shows in step time. ${provenance(store['cluster-plain'])}.`,
      '',
      table(store['cluster-plain']),
    );
  }
  if (store.plain) {
    out.push(
      '',
      "### 2 stages x 2 data-parallel replicas, this box's links at 1 Gb/s as they are: each technique on and off",
      '',
      `Batch 8 per replica (micro-batches of 2 rows); ranks 0, 1 and 2, 3 are the two replicas, on two emulated nodes. ${provenance(store.plain)}.`,
      '',
      table(store.plain),
    );
  }
  out.push(
    '',
    '- Inter-stage bytes: activations (forward) plus activation gradients (backward), summed over the ranks, per step, as handed to the comm layer; "vs own fp32" divides the same transfers in fp32 by what was sent. The paper compresses only the backward half (its reference implementation refuses to compress activations), so the forward activations bound its reduction below 2x; compressed backprop sends a transfer as rank-4 factors, (rows x dModel) / (rank x (rows + dModel)) smaller: 128 x 64 / (4 x 192) = 10.7x with 2 replicas (micro-batches of 2 x 64 tokens), 256 x 64 / (4 x 320) = 12.8x with one (4 x 64 tokens).',
    '- int8 transfers (an extension beyond the paper, `int8Transfers`): every transfer that would otherwise go in fp32 (all activations, and the gradients off the critical path or with compressed backprop off) travels as int8 codes with one fp32 scale per row (token), 64 x 4 / (64 + 4) = 3.76x smaller; the gradients\' rounding residual joins the lazy error. "activation rel. error" is ||x - decoded|| / ||x|| of the activations.',
    "- Selective compression low-rank-compresses the gradient transfers on the critical path of the 1F1B dependency graph (here micro-batches 0, 1 and 3 of 4; the third has slack) and sends the rest exact (int8 with the extension), carrying the pending lazy error along. The paper's reference implementation approximates the critical path by the cool-down (`--inter_grad_comp_epilogue_only`: stage s compresses its last S - s backward transfers, here micro-batch 3 only); the graph keeps that transfer and adds the warm-up ones the first backward waits for.",
    '- "all wire" adds the data-parallel gradient all-reduce and the tied-embedding synchronisation (exchanged between the end stages, or one PowerSGD rank-4 all-reduce over both end stages\' data-parallel ranks when fused); the data-parallel all-reduce of the stage gradients is not compressed by Optimus-CC here (the paper compresses it with PowerSGD, as the FSDP methods of this project do).',
    '- Loss: mean of the last 5 steps; gap and speedup are against the uncompressed pipeline of the same table (same seed, data, global batch and link). Timings exclude the first 2 steps. "compute ms" is the step minus the time spent waiting on the comm layer (bubbles included in the wait): on a shared 2-core box it drifts by tens of ms between runs, which bounds what a speedup below ~1.2x means here.',
  );
  return out.join('\n');
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
