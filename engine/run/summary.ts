/**
 * Turns metrics lines (one per rank per step) into per-method summaries. A step's time is the
 * slowest rank's (the step is not over until every rank is); the first steps are excluded from
 * timings as warm-up (wasm compilation, allocator growth), never from losses.
 */
import type { MethodStatus, MethodSummary, MetricLine } from './metrics.js';
import { median, ratioInterval, repeatKey, splitRepeatKey } from './repeats.js';
import { BF16_MP_KEY, methodKey, type RunMethod } from './run-config.js';

export const WARMUP_STEPS = 2;
/** The final loss is the mean of this many last steps' losses: one step's loss is noisy. */
export const FINAL_LOSS_WINDOW = 5;
/** How the CLI, the CSV export and the app name the final loss, so readers know what it is. */
export const FINAL_LOSS_NOTE = `final loss = mean loss of the last ${FINAL_LOSS_WINDOW} steps`;

export interface StepAggregate {
  method: string;
  step: number;
  ranks: number;
  loss: number;
  computeMs: number;
  exposedCommMs: number;
  commMs: number;
  encodeMs: number;
  decodeMs: number;
  stepMs: number;
  rawBytes: number;
  wireBytes: number;
  relError?: number;
  /** Parameter all-gather bytes, summed over ranks (absent in lines from older runs). */
  paramWireBytes?: number;
  paramRawBytes?: number;
  /** Bytes sent between nodes, summed over ranks (runs on several nodes). */
  interNodeBytes?: number;
  tokens: number;
  /** Pipeline runs: mean bubble over ranks; inter-stage bytes summed over ranks. */
  bubbleMs?: number;
  interStageBytes?: number;
  interStageRawBytes?: number;
}

/** The pipeline figures of one step's lines, when its ranks report them. */
function pipelineAggregate(
  g: MetricLine[],
): Pick<StepAggregate, 'bubbleMs' | 'interStageBytes' | 'interStageRawBytes'> {
  if (!g.some((l) => l.bubbleMs !== undefined)) return {};
  const total = (f: (l: MetricLine) => number | undefined): number =>
    g.reduce((a, l) => a + (f(l) ?? 0), 0);
  return {
    bubbleMs: total((l) => l.bubbleMs) / g.length,
    interStageBytes: total((l) => l.interStageBytes),
    interStageRawBytes: total((l) => l.interStageRawBytes),
  };
}

const mean = (xs: number[]): number =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

/** One record per (method, step): means over ranks, except the slowest step time and summed bytes and tokens. */
export function aggregateSteps(lines: MetricLine[]): StepAggregate[] {
  const groups = new Map<string, MetricLine[]>();
  for (const l of lines) {
    const key = `${l.method}\u0000${l.step}`;
    const g = groups.get(key);
    if (g) g.push(l);
    else groups.set(key, [l]);
  }
  const out: StepAggregate[] = [];
  for (const g of groups.values()) {
    const rel = g.filter((l) => l.relError !== undefined).map((l) => l.relError!);
    out.push({
      method: g[0].method,
      step: g[0].step,
      ranks: g.length,
      loss: mean(g.map((l) => l.loss)),
      computeMs: mean(g.map((l) => l.computeMs)),
      exposedCommMs: mean(g.map((l) => l.exposedCommMs)),
      commMs: mean(g.map((l) => l.commMs)),
      encodeMs: mean(g.map((l) => l.encodeMs)),
      decodeMs: mean(g.map((l) => l.decodeMs)),
      stepMs: Math.max(...g.map((l) => l.stepMs)),
      rawBytes: g.reduce((a, l) => a + l.rawBytes, 0),
      wireBytes: g.reduce((a, l) => a + l.wireBytes, 0),
      relError: rel.length ? mean(rel) : undefined,
      ...(g.some((l) => l.paramWireBytes !== undefined)
        ? {
            paramWireBytes: g.reduce((a, l) => a + (l.paramWireBytes ?? 0), 0),
            paramRawBytes: g.reduce((a, l) => a + (l.paramRawBytes ?? 0), 0),
          }
        : {}),
      ...(g.some((l) => l.interNodeBytes !== undefined)
        ? { interNodeBytes: g.reduce((a, l) => a + (l.interNodeBytes ?? 0), 0) }
        : {}),
      tokens: g.reduce((a, l) => a + l.tokens, 0),
      ...pipelineAggregate(g),
    });
  }
  return out.sort((a, b) =>
    a.method === b.method ? a.step - b.step : a.method < b.method ? -1 : 1,
  );
}

/**
 * The steps whose timings count: past the warm-up, and not the ones that probed the compression
 * error (they ran an extra reduction, so their timings are not representative). All of them past
 * the warm-up when every one probed.
 */
export function timedOf<T>(steps: readonly T[], probed: (step: T) => boolean): T[] {
  const warm = Math.min(WARMUP_STEPS, Math.max(0, steps.length - 1));
  return withoutProbed(steps.slice(warm), probed);
}

/** The steps that did not probe the error; all of them when every one probed. */
function withoutProbed<T>(steps: T[], probed: (step: T) => boolean): T[] {
  const unprobed = steps.filter((s) => !probed(s));
  return unprobed.length > 0 ? unprobed : steps;
}

/** The steps whose timings count (see timedOf). */
export function timedSteps(steps: StepAggregate[]): StepAggregate[] {
  return timedOf(steps, (s) => s.relError !== undefined);
}

/**
 * Steps without an error probe (those ran an extra reduction whose bytes the link counts but
 * the method does not send in training); all steps when every one probed.
 */
export function unprobedSteps(steps: StepAggregate[]): StepAggregate[] {
  return withoutProbed(steps, (s) => s.relError !== undefined);
}

/** The figures of `all` that are finite numbers: an absent figure is left out, never NaN. */
function finiteFigures<T extends Record<string, number | undefined>>(all: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(all).filter(([, v]) => v !== undefined && Number.isFinite(v)),
  ) as Partial<T>;
}

/** The record of a method that has not run (yet): its name and status, no figures. */
export function notStartedSummary(method: RunMethod): MethodSummary {
  return { method: methodKey(method), label: method.label, status: 'not started', steps: 0 };
}

export function summarizeMethod(
  method: RunMethod,
  lines: MetricLine[],
  status: MethodStatus,
  error?: string,
): MethodSummary {
  const mine = lines.filter((l) => l.method === methodKey(method));
  const steps = aggregateSteps(mine);
  const finite = steps.filter((s) => Number.isFinite(s.loss));
  const timed = timedSteps(steps);
  const meanStepMs = mean(timed.map((s) => s.stepMs));
  const raw = mean(steps.map((s) => s.rawBytes));
  const wire = mean(steps.map((s) => s.wireBytes));
  const pipeline = steps.some((s) => s.bubbleMs !== undefined);
  return {
    method: methodKey(method),
    label: method.label,
    status,
    steps: steps.length,
    ...finiteFigures({
      tokensPerSec: mean(timed.map((s) => s.tokens)) / (meanStepMs / 1000),
      meanStepMs,
      meanComputeMs: mean(timed.map((s) => s.computeMs)),
      meanExposedCommMs: mean(timed.map((s) => s.exposedCommMs)),
      meanCommMs: mean(timed.map((s) => s.commMs)),
      wireBytesPerStep: wire,
      rawBytesPerStep: raw,
      compressionRatio: wire > 0 ? raw / wire : steps.length ? 1 : NaN,
      // Non-finite losses (reported as health warnings) are left out of both.
      firstLoss: finite[0]?.loss,
      finalLoss: mean(finite.slice(-FINAL_LOSS_WINDOW).map((s) => s.loss)),
      meanBubbleMs: pipeline ? mean(timed.map((s) => s.bubbleMs ?? 0)) : undefined,
      interStageBytesPerStep: pipeline ? mean(steps.map((s) => s.interStageBytes ?? 0)) : undefined,
      interStageRawBytesPerStep: pipeline
        ? mean(steps.map((s) => s.interStageRawBytes ?? 0))
        : undefined,
    }),
    healthWarnings: mine.reduce((a, l) => a + (l.warnings?.length ?? 0), 0),
    ...(steps.some((s) => s.paramWireBytes !== undefined)
      ? {
          paramWireBytesPerStep: mean(steps.map((s) => s.paramWireBytes ?? 0)),
          paramRawBytesPerStep: mean(steps.map((s) => s.paramRawBytes ?? 0)),
        }
      : {}),
    ...(mine.some((l) => l.secondaryBytes !== undefined)
      ? { secondaryBytesPerRank: Math.max(...mine.map((l) => l.secondaryBytes ?? 0)) }
      : {}),
    ...(steps.some((s) => s.interNodeBytes !== undefined)
      ? { interNodeBytesPerStep: mean(unprobedSteps(steps).map((s) => s.interNodeBytes ?? 0)) }
      : {}),
    ...(error ? { error } : {}),
  };
}

/** Bytes a method sends per step over all ranks: gradient reductions plus parameter gathers. */
const bytesPerStep = (s: MethodSummary): number =>
  (s.wireBytesPerStep ?? NaN) + (s.paramWireBytesPerStep ?? 0);

/**
 * The speedup over `base` that `s` would reach if its coding cost nothing: the baseline's step
 * with its exposed communication scaled by s's bytes over the baseline's (each collective's
 * waiting shrinks with its bytes; summed over collectives that is the ratio of totals), compute
 * unchanged.
 */
export function byteCeiling(base: MethodSummary, s: MethodSummary): number | undefined {
  const wb = bytesPerStep(base);
  const { meanStepMs: step, meanExposedCommMs: exposed } = base;
  if (!(wb > 0) || step === undefined || !(step > 0) || exposed === undefined) return undefined;
  return step / (step - exposed + (exposed * bytesPerStep(s)) / wb);
}

/**
 * Adds speedup, loss gap and byte ceiling against the fp32 FSDP baseline, and speedup against the
 * bf16 FSDP baseline (mixed precision when it ran, else bf16 reduce), each when it ran and
 * completed. Repetitions (repeats.ts) are paired with the baseline's same repetition; a method's
 * first row then carries the median over its repetitions and the 95 % interval of that speedup.
 */
export function compareToBaseline(summaries: MethodSummary[]): MethodSummary[] {
  const done = (key: string) =>
    summaries.find(
      (s) => s.method === key && s.status === 'completed' && s.meanStepMs !== undefined,
    );
  const paired = summaries.map((s) => {
    const stepMs = s.meanStepMs;
    if (stepMs === undefined) return s;
    const { repetition } = splitRepeatKey(s.method);
    const base = done(repeatKey('fsdp', repetition));
    const bf16 = done(repeatKey(BF16_MP_KEY, repetition)) ?? done(repeatKey('bf16', repetition));
    return {
      ...s,
      ...finiteFigures({
        speedupVsBaseline: base?.meanStepMs !== undefined ? base.meanStepMs / stepMs : undefined,
        // Only a method that ran all its steps: a stopped one's loss is from an earlier step.
        lossGapVsBaseline:
          base?.finalLoss !== undefined && s.finalLoss !== undefined && s.status === 'completed'
            ? (s.finalLoss - base.finalLoss) / base.finalLoss
            : undefined,
        byteCeilingSpeedup: base ? byteCeiling(base, s) : undefined,
        speedupVsBf16: bf16?.meanStepMs !== undefined ? bf16.meanStepMs / stepMs : undefined,
      }),
    };
  });
  return withRepeatIntervals(paired);
}

/** Puts each repeated method's median speedups and interval on its first repetition's row. */
function withRepeatIntervals(summaries: MethodSummary[]): MethodSummary[] {
  const groups = new Map<string, MethodSummary[]>();
  for (const s of summaries) {
    const { base } = splitRepeatKey(s.method);
    groups.set(base, [...(groups.get(base) ?? []), s]);
  }
  return summaries.map((s) => {
    const group = groups.get(s.method);
    if (!group || group.length < 2) return s;
    const values = (f: (m: MethodSummary) => number | undefined): number[] =>
      group.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const speedups = values((m) => m.speedupVsBaseline);
    const out: MethodSummary = { ...s, repeats: group.length };
    if (speedups.length > 0) {
      const { median: mid, low, high } = ratioInterval(speedups);
      out.speedupVsBaseline = mid;
      if (Number.isFinite(low)) Object.assign(out, { speedupCiLow: low, speedupCiHigh: high });
    }
    const bf16 = values((m) => m.speedupVsBf16);
    if (bf16.length > 0) out.speedupVsBf16 = median(bf16);
    const ceilings = values((m) => m.byteCeilingSpeedup);
    if (ceilings.length > 0) out.byteCeilingSpeedup = median(ceilings);
    return out;
  });
}

/** The figures a finished method's record normally carries (all optional in the file). */
const CORE_FIGURES = [
  'tokensPerSec',
  'meanStepMs',
  'meanComputeMs',
  'meanExposedCommMs',
  'meanCommMs',
  'wireBytesPerStep',
  'rawBytesPerStep',
  'compressionRatio',
  'firstLoss',
  'finalLoss',
] as const;
type CoreFigure = (typeof CORE_FIGURES)[number];
export type MeasuredSummary = MethodSummary & Record<CoreFigure, number>;

/**
 * For reports that compute with the figures (benchmarks, predictions): an absent figure reads as
 * NaN, which their formatters print as '-', so a method without figures never breaks a table.
 */
export function measured(m: MethodSummary): MeasuredSummary {
  const filled = Object.fromEntries(CORE_FIGURES.map((f) => [f, m[f] ?? NaN]));
  return { ...m, ...filled } as MeasuredSummary;
}

/** How a results table writes a figure (absent or not finite: the table's own blank). */
export interface FigureFormat {
  number(x: number | undefined, decimals: number): string;
  bytes(x: number | undefined): string;
}

/** The leading columns of a per-method results table: the CLI's run summary and the benchmarks'. */
export const MEASURED_COLUMNS = [
  'method',
  'status',
  'steps',
  'step ms',
  'compute ms',
  'exposed comm ms',
  'comm ms',
  'wire/step',
  'ratio',
] as const;

/** MEASURED_COLUMNS, with what crossed between nodes (counted per link) for multi-node runs. */
export function measuredColumns(crossNode: boolean): string[] {
  const cols: string[] = [...MEASURED_COLUMNS];
  if (crossNode) cols.splice(cols.indexOf('ratio'), 0, 'across nodes/step');
  return cols;
}

/** A method's cells under measuredColumns(crossNode). */
export function measuredCells(m: MethodSummary, f: FigureFormat, crossNode = false): string[] {
  return [
    m.label,
    m.status,
    String(m.steps),
    f.number(m.meanStepMs, 1),
    f.number(m.meanComputeMs, 1),
    f.number(m.meanExposedCommMs, 1),
    f.number(m.meanCommMs, 1),
    f.bytes(m.wireBytesPerStep),
    ...(crossNode ? [f.bytes(m.interNodeBytesPerStep)] : []),
    f.number(m.compressionRatio, 2),
  ];
}
