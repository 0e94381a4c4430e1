/**
 * CSV export of a run (RFC 4180: CRLF line ends, a header row, fields quoted when they hold a
 * comma, a double quote, CR or LF, with inner quotes doubled). Numbers are written with '.'
 * decimals, no thousands separators and no exponent, so any locale's spreadsheet reads them.
 *
 * Steps are numbered from 1, as in the CLI and the charts (metrics.jsonl keeps the 0-based index).
 * Per-step rows aggregate the ranks of one (method, step): loss, computeMs, exposedCommMs,
 * commMs, encodeMs, decodeMs, relError, lr and gradNorm are means over ranks; stepMs is the
 * maximum (the slowest rank sets the pace); rawBytes, wireBytes and tokens are sums. Pipeline
 * runs add bubbleMs (mean) and interStageBytes (sum); empty for other runs.
 */
import {
  MethodSummarySchema,
  displayStep,
  type MetricLine,
  type RunSummary,
} from '../run/metrics.js';
import { FINAL_LOSS_WINDOW } from '../run/summary.js';

/** A finite number in plain decimal notation (`1e-7` -> `0.0000001`); NaN and ±Infinity -> ''. */
export function csvNumber(n: number): string {
  if (!Number.isFinite(n)) return '';
  const s = String(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const neg = s.startsWith('-');
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const digits = mantissa.replace('.', '');
  const point = mantissa.split('.')[0].length + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return neg ? `-${out}` : out;
}

/** One CSV field: numbers as csvNumber, undefined/null as empty, text quoted when needed. */
export function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return csvNumber(value);
  const text = typeof value === 'string' ? value : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A whole CSV document: header plus rows, each line ended by CRLF. */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [header, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

export const STEPS_CSV_COLUMNS = [
  'run',
  'method',
  'step',
  'ranks',
  'loss',
  'computeMs',
  'exposedCommMs',
  'commMs',
  'encodeMs',
  'decodeMs',
  'stepMs',
  'rawBytes',
  'wireBytes',
  'relError',
  'tokens',
  'lr',
  'gradNorm',
  'backend',
  'bubbleMs',
  'interStageBytes',
] as const;

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]): number | undefined => (xs.length ? sum(xs) / xs.length : undefined);
const present = (xs: (number | undefined)[]): number[] =>
  xs.filter((x): x is number => x !== undefined);

function stepRow(lines: MetricLine[]): unknown[] {
  const col = (f: (m: MetricLine) => number): number[] => lines.map(f);
  return [
    lines[0].run,
    lines[0].method,
    displayStep(lines[0].step),
    new Set(lines.map((m) => m.rank)).size,
    mean(col((m) => m.loss)),
    mean(col((m) => m.computeMs)),
    mean(col((m) => m.exposedCommMs)),
    mean(col((m) => m.commMs)),
    mean(col((m) => m.encodeMs)),
    mean(col((m) => m.decodeMs)),
    Math.max(...col((m) => m.stepMs)),
    sum(col((m) => m.rawBytes)),
    sum(col((m) => m.wireBytes)),
    mean(present(lines.map((m) => m.relError))),
    sum(col((m) => m.tokens)),
    mean(present(lines.map((m) => m.lr))),
    mean(present(lines.map((m) => m.gradNorm))),
    [...new Set(lines.map((m) => m.backend))].join(' '),
    mean(present(lines.map((m) => m.bubbleMs))),
    present(lines.map((m) => m.interStageBytes)).length
      ? sum(present(lines.map((m) => m.interStageBytes)))
      : undefined,
  ];
}

/**
 * One row per (method, step), aggregated over ranks; methods in the order they first appear,
 * steps ascending.
 */
export function stepsCsv(metrics: readonly MetricLine[]): string {
  const groups = new Map<string, Map<number, MetricLine[]>>();
  for (const m of metrics) {
    const key = JSON.stringify([m.run, m.method]);
    let steps = groups.get(key);
    if (!steps) groups.set(key, (steps = new Map()));
    const lines = steps.get(m.step);
    if (lines) lines.push(m);
    else steps.set(m.step, [m]);
  }
  const rows: unknown[][] = [];
  for (const steps of groups.values()) {
    for (const step of [...steps.keys()].sort((a, b) => a - b))
      rows.push(stepRow(steps.get(step)!));
  }
  return toCsv(STEPS_CSV_COLUMNS, rows);
}

/** Headers that say how their figure is defined. */
const DEFINED_HEADERS: Record<string, string> = {
  finalLoss: `finalLoss (mean of the last ${FINAL_LOSS_WINDOW} steps)`,
};

/** Every MethodSummary field, in schema order, after the run id and profile name. */
export const SUMMARY_CSV_COLUMNS = [
  'run',
  'profile',
  ...Object.keys(MethodSummarySchema.shape).map((f) => DEFINED_HEADERS[f] ?? f),
] as readonly string[];

/** One row per method of the run summary. */
export function summaryCsv(summary: RunSummary): string {
  const fields = Object.keys(MethodSummarySchema.shape) as (keyof RunSummary['methods'][number])[];
  const rows = summary.methods.map((m) => [
    summary.run,
    summary.profile,
    ...fields.map((f) => m[f]),
  ]);
  return toCsv(SUMMARY_CSV_COLUMNS, rows);
}
