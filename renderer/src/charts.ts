/**
 * ECharts options shared by the Live and Results pages (plain data in, option object out). Every
 * series of a method carries that method's colour; the legend is laid out in full (never paged),
 * with the plot moved down to make room for it.
 */
import type { MethodSummary } from '../../engine/app/api';
import { BASELINE_KEY } from './method-colors';

/** A summary with the figures a run with repetitions adds: the 95 % interval of the speedup. */
export type MethodFigures = MethodSummary & { speedupCiLow?: number; speedupCiHigh?: number };

/** One method's line: `key` picks its style, `run` (0 for the first run) its dash in compare mode. */
export interface Series {
  key: string;
  name: string;
  color: string;
  points: [number, number][];
  run?: number;
}

/** One method's bar. */
export interface MethodBar {
  name: string;
  color: string;
  value: number | undefined;
}

const axisName = (name: string) => ({ name, nameLocation: 'middle' as const, nameGap: 28 });

/** Room an unpaged legend needs above the plot: rows of items of about 7 px a character. */
const LEGEND_ROW_PX = 22;
const LEGEND_WIDTH_PX = 420;
export function legendRows(names: string[]): number {
  let rows = 1;
  let x = 0;
  for (const n of names) {
    const w = 34 + 7 * n.length;
    if (x > 0 && x + w > LEGEND_WIDTH_PX) {
      rows++;
      x = 0;
    }
    x += w;
  }
  return rows;
}

function legend(names: string[], show = true) {
  return show
    ? {
        legend: { top: 0, type: 'plain' as const },
        gridTop: 14 + LEGEND_ROW_PX * legendRows(names),
      }
    : { legend: { show: false, type: 'plain' as const }, gridTop: 16 };
}

/**
 * How the lines of each compared run are told apart (the colour stays the method's): the first
 * run solid with round markers, the next dotted with triangles, and so on.
 */
export const RUN_STYLES = [
  { dash: 'solid', symbol: 'circle' },
  { dash: 'dotted', symbol: 'triangle' },
  { dash: [8, 3, 2, 3], symbol: 'rect' },
  { dash: [2, 6], symbol: 'diamond' },
] as const;
export const runStyle = (run = 0) => RUN_STYLES[run % RUN_STYLES.length];

/**
 * A method's line: the baseline a wide translucent dashed band drawn under the others, so a method
 * that tracks it step for step (fp16 does) shows inside it and neither hides the other; in compare
 * mode each run has its own dash and marker.
 */
function lineStyle(s: Series, compare: boolean) {
  const { dash, symbol } = runStyle(s.run);
  const marks = compare ? { symbol, symbolSize: 7, showSymbol: true } : {};
  if (s.key === BASELINE_KEY)
    return {
      lineStyle: { type: compare && s.run ? dash : 'dashed', width: 5, opacity: 0.45 },
      z: 2,
      ...marks,
    };
  return { lineStyle: { type: compare ? dash : 'solid', width: 2 }, z: 3, ...marks };
}

/**
 * Lines per method. `compare` (several runs): the runs are told apart by dash and marker, and the
 * page shows one shared legend of methods and runs instead of each chart's own, which would wrap
 * over several rows of long names and squeeze the plot.
 */
export function lineOption(series: Series[], xName: string, yName: string, compare = false) {
  const { legend: l, gridTop } = legend(
    series.map((s) => s.name),
    !compare,
  );
  return {
    tooltip: { trigger: 'axis' },
    legend: l,
    grid: { left: 60, right: 20, top: gridTop, bottom: 44 },
    xAxis: { type: 'value', ...axisName(xName), scale: true },
    yAxis: { type: 'value', ...axisName(yName), nameGap: 44, scale: true },
    series: series.map((s) => ({
      name: s.name,
      type: 'line',
      color: s.color,
      showSymbol: s.points.length < 30,
      data: s.points,
      ...lineStyle(s, compare),
    })),
  };
}

/**
 * The parts of a step in neutral greys (no hue), none of them near a method's colour: the methods
 * are Tableau hues and the FSDP baseline near-black ink. Compute light, exposed communication a mid
 * grey, encode and decode a paler grey told apart from it and from each other by stripes and dots.
 */
export const PART_COLORS = ['#d6d6d6', '#767676', '#b8b8b8', '#b8b8b8', '#efefef'];
const PART_STYLES = [
  { color: PART_COLORS[0] },
  { color: PART_COLORS[1] },
  {
    color: PART_COLORS[2],
    decal: {
      symbol: 'rect',
      dashArrayX: [1, 0],
      dashArrayY: [2, 3],
      rotation: Math.PI / 4,
      color: '#ffffffaa',
    },
  },
  {
    color: PART_COLORS[3],
    decal: {
      symbol: 'circle',
      symbolSize: 0.6,
      dashArrayX: [[2, 3]],
      dashArrayY: [2, 3],
      color: '#4f4f4faa',
    },
  },
  { color: PART_COLORS[4], borderColor: '#9a9a9a', borderWidth: 1 },
];

/** Bars of parts of a whole per category (the step-time breakdown): one series per part. */
export function barOption(
  categories: string[],
  bars: { name: string; values: (number | null)[]; stack?: string }[],
  yName: string,
) {
  const { legend: l, gridTop } = legend(bars.map((b) => b.name));
  return {
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: l,
    grid: { left: 60, right: 20, top: gridTop, bottom: 60 },
    xAxis: {
      type: 'category',
      data: categories,
      axisLabel: { interval: 0, rotate: categories.length > 5 ? 30 : 0 },
    },
    yAxis: { type: 'value', ...axisName(yName), nameGap: 44 },
    series: bars.map((b, i) => ({
      name: b.name,
      type: 'bar',
      stack: b.stack,
      color: PART_STYLES[i % PART_STYLES.length].color,
      itemStyle: PART_STYLES[i % PART_STYLES.length],
      data: b.values,
    })),
  };
}

/** Category labels longer than this are cut with an ellipsis (the tooltip has the whole name). */
const LABEL_PX = 120;
const long = (names: string[]) => names.length > 5 || names.some((n) => n.length > 16);

/** One bar per method in the method's colour, with its value on the bar. */
export function methodBarOption(bars: MethodBar[], yName: string, digits = 2, unit = '×') {
  const tilt = long(bars.map((b) => b.name));
  return {
    tooltip: { trigger: 'item' },
    grid: { left: 60, right: 20, top: 24, bottom: tilt ? 24 : 44, containLabel: tilt },
    xAxis: {
      type: 'category',
      data: bars.map((b) => b.name),
      // Long names (runs compared) are tilted and cut rather than drawn over each other.
      axisLabel: tilt
        ? { interval: 0, rotate: 30, width: LABEL_PX, overflow: 'truncate' }
        : { interval: 0, rotate: 0 },
    },
    yAxis: { type: 'value', ...axisName(yName), nameGap: 44 },
    series: [
      {
        name: yName,
        type: 'bar',
        data: bars.map((b) => ({ value: b.value ?? null, itemStyle: { color: b.color } })),
        label: {
          show: true,
          position: 'top',
          formatter: (p: { value: number | null }) =>
            p.value === null ? '' : `${p.value.toFixed(digits)}${unit}`,
        },
      },
    ],
  };
}

/** A method's speedups: over the fp32 FSDP baseline, over the bf16 one when measured, and the 95 % interval of the first when the run had repetitions. */
export interface SpeedupRow {
  name: string;
  color: string;
  vsFsdp: number;
  vsBf16?: number;
  ciLow?: number;
  ciHigh?: number;
  /** Set when the method stopped early: `cancelled at step 37 of 200`. */
  partial?: string;
}

export const FASTER_COLOR = '#2e7d32';
export const SLOWER_COLOR = '#c0392b';
export const ON_PAR_COLOR = '#667085';

/**
 * Within this share of FSDP's step time a single measurement is called on par: step times on a
 * shared machine move by more than that between methods of one run.
 */
export const ON_PAR_BAND = 0.02;

export type SpeedupVerdict = 'faster' | 'slower' | 'on par';

/** Faster, slower or on par: from the interval when the run had repetitions, else the band. */
export function speedupVerdict(x: number, low?: number, high?: number): SpeedupVerdict {
  if (low !== undefined && high !== undefined)
    return low > 1 ? 'faster' : high < 1 ? 'slower' : 'on par';
  return Math.abs(x - 1) < ON_PAR_BAND ? 'on par' : x > 1 ? 'faster' : 'slower';
}

export const VERDICT_COLOR: Record<SpeedupVerdict, string> = {
  faster: FASTER_COLOR,
  slower: SLOWER_COLOR,
  'on par': ON_PAR_COLOR,
};

/** `1.30× faster`, `0.84× · slower`, `1.00× · on par`, with the interval when known. */
export function speedupText(x: number, low?: number, high?: number): string {
  const interval =
    low !== undefined && high !== undefined ? ` [${low.toFixed(2)}–${high.toFixed(2)}]` : '';
  const verdict = speedupVerdict(x, low, high);
  return `${x.toFixed(2)}×${interval} ${verdict === 'faster' ? verdict : `· ${verdict}`}`;
}

/** The stripes of a bar measured over part of its steps only. */
const PARTIAL_DECAL = {
  symbol: 'rect',
  dashArrayX: [1, 0],
  dashArrayY: [3, 4],
  rotation: -Math.PI / 4,
  color: '#ffffffcc',
};

/**
 * "Is this method faster than FSDP, and by how much": one horizontal bar per method in its colour,
 * the value and the word faster or slower on it (green or red), a line at 1.0 where FSDP stands,
 * the slower side shaded red and the faster side green, a whisker for the interval.
 */
export function speedupOption(rows: SpeedupRow[], bf16Name?: string) {
  const top = Math.max(1, ...rows.flatMap((r) => [r.vsFsdp, r.vsBf16 ?? 0, r.ciHigh ?? 0]));
  // Room right of the longest bar for its label (longer with a partial mark), ending on a tick.
  const room = rows.some((r) => r.partial) ? 1.8 : 1.35;
  const max = Math.ceil(top * room * 2) / 2;
  const names = rows.map((r) => r.name);
  const label = (value: (r: SpeedupRow) => number | undefined, withInterval: boolean) =>
    rows.map((r) => {
      const v = value(r);
      if (v === undefined) return { value: null };
      const text = withInterval ? speedupText(v, r.ciLow, r.ciHigh) : `${speedupText(v)} (bf16)`;
      return {
        value: v,
        // A method that stopped early: a hatched, paler bar and the step it stopped at.
        itemStyle: {
          color: r.color,
          opacity: withInterval ? 1 : 0.5,
          ...(r.partial ? { decal: PARTIAL_DECAL } : {}),
        },
        label: {
          show: true,
          position: 'right',
          color:
            VERDICT_COLOR[withInterval ? speedupVerdict(v, r.ciLow, r.ciHigh) : speedupVerdict(v)],
          fontWeight: 'bold',
          // Two lines (value, then the partial mark) need a line height to not overprint.
          lineHeight: 16,
          // A slower bar's label crosses the FSDP line at 1.0: a backing keeps it readable.
          backgroundColor: 'rgba(255, 255, 255, 0.85)',
          padding: [1, 3],
          borderRadius: 2,
          formatter: r.partial ? `${text}\npartial: ${r.partial}` : text,
        },
      };
    });
  const intervals = rows
    .filter((r) => r.ciLow !== undefined && r.ciHigh !== undefined)
    .map((r) => [
      { coord: [r.ciLow, r.name], symbol: 'none' },
      { coord: [r.ciHigh, r.name], symbol: 'none' },
    ]);
  return {
    tooltip: { trigger: 'item' },
    ...(bf16Name ? { legend: { top: 0, type: 'plain' } } : {}),
    grid: { left: 12, right: 24, top: bf16Name ? 36 : 16, bottom: 44, containLabel: true },
    xAxis: {
      type: 'value',
      min: 0,
      max,
      ...axisName('× faster than FSDP (fp32): its step time ÷ the method’s'),
    },
    // Long names (runs compared) are cut with an ellipsis; the tooltip has the whole name.
    yAxis: {
      type: 'category',
      data: names,
      inverse: true,
      axisLabel: { width: 2 * LABEL_PX, overflow: 'truncate' },
    },
    series: [
      {
        name: 'vs FSDP (fp32)',
        type: 'bar',
        // The legend's swatch; each bar has its method's colour.
        itemStyle: { color: '#667085' },
        data: label((r) => r.vsFsdp, true),
        markLine: {
          silent: true,
          symbol: 'none',
          lineStyle: { color: '#1c2230', type: 'solid', width: 2 },
          label: { formatter: 'FSDP = 1.0×', position: 'start', fontWeight: 'bold' },
          data: [{ xAxis: 1 }],
        },
        markArea: {
          silent: true,
          data: [
            [{ xAxis: 0, itemStyle: { color: 'rgba(192, 57, 43, 0.06)' } }, { xAxis: 1 }],
            [{ xAxis: 1, itemStyle: { color: 'rgba(46, 125, 50, 0.07)' } }, { xAxis: max }],
          ],
        },
      },
      ...(bf16Name
        ? [
            {
              name: bf16Name,
              type: 'bar',
              itemStyle: { color: '#667085', opacity: 0.5 },
              data: label((r) => r.vsBf16, false),
            },
          ]
        : []),
      ...(intervals.length
        ? [
            {
              name: '95 % interval',
              type: 'line',
              data: [],
              markLine: {
                silent: true,
                symbol: 'none',
                lineStyle: { color: '#1c2230', type: 'solid', width: 2 },
                label: { show: false },
                data: intervals,
              },
            },
          ]
        : []),
    ],
  };
}

/** Mean of a field over points after the warm-up steps (all points when there are too few). */
export function meanAfterWarmup<T extends { step: number }>(
  points: T[],
  f: (p: T) => number,
  warmup = 2,
): number {
  const use = points.filter((p) => p.step >= warmup);
  const xs = (use.length ? use : points).map(f);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}
