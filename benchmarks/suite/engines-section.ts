/**
 * The engines scenarios' section: each size's built-in and PyTorch runs side by side (step time,
 * tokens/s, first and final loss, bytes per step), the PyTorch/built-in step-time ratio, and the
 * load average each run ended under (the cores are shared with other processes).
 */
import { mdTable } from '../report.js';
import type { RunRecord, ScenarioRecord } from './results.js';

interface Format {
  measured: string;
  fmt: (x: number | undefined, d?: number) => string;
  kib: (bytes: number | undefined) => string;
}

const baselineOf = (r: RunRecord) => r.summary.find((m) => m.method === 'fsdp');
const sizeOf = (r: RunRecord): string => r.label.replace(/, (builtin|pytorch)$/, '');

export function enginesSection(rec: ScenarioRecord, f: Format): string {
  const rows = rec.runs.map((r) => {
    const s = baselineOf(r);
    const twin = rec.runs.find((o) => o !== r && sizeOf(o) === sizeOf(r));
    const other = twin ? baselineOf(twin) : undefined;
    const isTorch = r.profile.engine === 'pytorch';
    return [
      sizeOf(r),
      r.profile.engine,
      r.status,
      f.fmt(s?.meanStepMs),
      f.fmt(s?.tokensPerSec, 0),
      f.fmt(s?.firstLoss, 4),
      f.fmt(s?.finalLoss, 4),
      f.kib(s?.wireBytesPerStep),
      isTorch && s?.meanStepMs && other?.meanStepMs
        ? `${(s.meanStepMs / other.meanStepMs).toFixed(2)}x`
        : '',
      isTorch && s?.finalLoss !== undefined && other?.finalLoss
        ? `${((100 * (s.finalLoss - other.finalLoss)) / other.finalLoss).toFixed(2)} %`
        : '',
      f.fmt(r.loadAvg, 1),
    ];
  });
  return [
    `## ${rec.title}`,
    '',
    f.measured,
    '',
    mdTable(
      [
        'size',
        'engine',
        'status',
        'step ms',
        'tokens/s',
        'first loss',
        'final loss',
        'bytes/step (all ranks)',
        'PyTorch / built-in step time',
        'final loss gap',
        'load average at end',
      ],
      rows,
    ),
    '',
    '- Same profile on both: fp32 all-reduce of every gradient (NO_SHARD), same initial weights and batches (the PyTorch engine reproduces the built-in random streams), AdamW, schedule and clipping. Final loss is the mean of the last 5 steps.',
    '- Built-in: tfjs-wasm ranks over GradBench TCP transport; PyTorch: torch 1.13 CPU, one thread per rank, DDP over gloo, started by torchrun. Bytes per step count what every rank sends in a ring all-reduce (2(n-1)/n of the gradient).',
    '- All ranks share 2 cores with other processes: compare the two engines of one size (run back to back), not the sizes with each other.',
  ].join('\n');
}
