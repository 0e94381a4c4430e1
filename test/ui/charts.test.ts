import { describe, expect, it } from 'vitest';
import {
  legendRows,
  lineOption,
  methodBarOption,
  speedupOption,
  speedupText,
  FASTER_COLOR,
  SLOWER_COLOR,
  ON_PAR_COLOR,
  PART_COLORS,
  speedupVerdict,
} from '../../renderer/src/charts.js';
import { BASELINE_COLOR, METHOD_PALETTE, methodColor } from '../../renderer/src/method-colors.js';
import { readableLabel } from '../../renderer/src/method-labels.js';

const REGISTRY = ['fp16', 'bf16', 'int8', 'topk', 'powersgd'];

describe('method colours', () => {
  it('follow the method, not the run: the same key has the same colour whatever else ran', () => {
    expect(methodColor('topk', REGISTRY)).toBe(METHOD_PALETTE[3]);
    expect(methodColor('topk', ['fp16', 'bf16', 'int8', 'topk'])).toBe(
      methodColor('topk', REGISTRY),
    );
    expect(methodColor('fsdp', REGISTRY)).toBe(BASELINE_COLOR);
    // A repeated method takes the next colour, so its two runs differ.
    expect(methodColor('topk-2', REGISTRY)).not.toBe(methodColor('topk', REGISTRY));
    expect(methodColor('brand-new', REGISTRY)).toBe(methodColor('brand-new', []));
  });
});

describe('method labels', () => {
  const labels: Record<string, string> = { int8: 'int8 blockwise', tagc: 'TAGC', topk: 'top-k' };
  const read = (text: string) => readableLabel(text, (id) => labels[id]);
  it("read as the catalog's, keeping a repeat's number and a combination's parts", () => {
    expect(read('int8')).toBe('int8 blockwise');
    expect(read('tagc #2')).toBe('TAGC #2');
    expect(read('topk-2')).toBe('top-k #2');
    expect(read('tagc+int8')).toBe('TAGC + int8 blockwise');
    expect(read('fsdp')).toBe('FSDP (fp32)');
    // A name of the profile's own, or an id the catalog lacks, stays as it is.
    expect(read('FSDP (fp32)')).toBe('FSDP (fp32)');
    expect(read('my method')).toBe('my method');
  });
});

describe('step-time parts', () => {
  it('use colours that cannot be taken for any method, the baseline included', () => {
    const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const chroma = (hex: string) => Math.max(...rgb(hex)) - Math.min(...rgb(hex));
    const distance = (a: string, b: string) => Math.hypot(...rgb(a).map((v, i) => v - rgb(b)[i]));
    // Parts are hueless greys; every method but the baseline has a clear hue...
    for (const part of PART_COLORS) expect(chroma(part), part).toBeLessThanOrEqual(12);
    for (const method of METHOD_PALETTE) expect(chroma(method), method).toBeGreaterThanOrEqual(40);
    // ...and the baseline's near-black ink is far darker than any part.
    for (const part of PART_COLORS)
      expect(distance(part, BASELINE_COLOR), part).toBeGreaterThan(100);
  });
});

describe('line charts', () => {
  const series = ['fsdp', 'fp16', 'topk'].map((key) => ({
    key,
    name: key,
    color: methodColor(key, REGISTRY),
    points: [[0, 1] as [number, number]],
  }));

  it('draw the baseline as a wide see-through dashed band under the methods that track it', () => {
    const o = lineOption(series, 'step', 'loss');
    const [base, fp16] = o.series;
    expect(base.lineStyle).toMatchObject({ type: 'dashed', width: 5 });
    expect(base.lineStyle.opacity).toBeLessThan(1);
    // fp16 runs inside the band (narrower, on top): an equal loss hides neither line.
    expect(fp16.lineStyle.width).toBeLessThan(base.lineStyle.width);
    expect(fp16.z).toBeGreaterThan(base.z);
    expect(o.series.map((s) => s.color)).toEqual(series.map((s) => s.color));
  });

  it("tell compared runs apart by dash and marker, the colour staying the method's", () => {
    const two = [0, 1].flatMap((run) =>
      series.map((s) => ({ ...s, run, name: `${s.key} ${run}` })),
    );
    const o = lineOption(two, 'step', 'loss', true);
    const style = (name: string) => o.series.find((x) => x.name === name)!;
    expect(style('topk 0').color).toBe(style('topk 1').color);
    expect(style('topk 0').lineStyle.type).not.toEqual(style('topk 1').lineStyle.type);
    expect(style('topk 0').symbol).not.toBe(style('topk 1').symbol);
    expect(style('fsdp 0').symbol).not.toBe(style('fsdp 1').symbol);
    // The page shows one legend of methods and runs; the chart keeps its whole height for lines.
    expect(o.legend.show).toBe(false);
    expect(o.grid.top).toBeLessThan(lineOption(two, 'step', 'loss').grid.top);
  });

  it('lay the legend out in full, with the plot moved down for each extra row', () => {
    const names = Array.from({ length: 6 }, (_, i) => `method ${i} · a long profile name`);
    expect(legendRows(names)).toBeGreaterThan(1);
    const o = lineOption(
      names.map((name, i) => ({ ...series[0], key: `m${i}`, name })),
      'step',
      'loss',
    );
    expect(o.legend.type).toBe('plain');
    expect(o.grid.top).toBeGreaterThan(lineOption(series, 'step', 'loss').grid.top);
  });
});

describe('speedup view', () => {
  const rows = [
    { name: 'fp16', color: METHOD_PALETTE[0], vsFsdp: 1.3 },
    { name: 'topk', color: METHOD_PALETTE[3], vsFsdp: 0.84 },
  ];

  it('says faster or slower on each bar, in green or red, with a line at 1.0', () => {
    const o = speedupOption(rows);
    const bars = o.series[0];
    expect(bars.markLine?.data).toEqual([{ xAxis: 1 }]);
    expect(bars.data.map((d) => d.label?.formatter)).toEqual(['1.30× faster', '0.84× · slower']);
    expect(bars.data.map((d) => d.label?.color)).toEqual([FASTER_COLOR, SLOWER_COLOR]);
    expect(bars.data.map((d) => d.itemStyle?.color)).toEqual(rows.map((r) => r.color));
    // The slower bar's label crosses the line at 1.0: it has a backing to stay readable.
    expect(bars.data.every((d) => d.label?.backgroundColor)).toBe(true);
    expect(o.xAxis.max).toBeGreaterThan(1.3);
    expect(o.series).toHaveLength(1);
  });

  it('calls a tie on par, in grey: within the band, or when the interval holds 1.0', () => {
    const o = speedupOption([{ ...rows[0], vsFsdp: 1.004 }]);
    expect(o.series[0].data[0].label?.formatter).toBe('1.00× · on par');
    expect(o.series[0].data[0].label?.color).toBe(ON_PAR_COLOR);
    expect(speedupVerdict(0.985)).toBe('on par');
    expect(speedupVerdict(1.05, 0.9, 1.2)).toBe('on par');
    expect(speedupVerdict(1.05, 1.01, 1.1)).toBe('faster');
    expect(speedupVerdict(0.95, 0.9, 0.99)).toBe('slower');
    expect(speedupText(1.05, 0.9, 1.2)).toBe('1.05× [0.90–1.20] · on par');
  });

  it('adds the bf16 bars when measured and a whisker for a 95 % interval', () => {
    const o = speedupOption(
      [{ ...rows[0], vsBf16: 1.1, ciLow: 1.2, ciHigh: 1.4 }, rows[1]],
      'vs FSDP (bf16 reduce)',
    );
    expect(o.series.map((s) => s.name)).toEqual([
      'vs FSDP (fp32)',
      'vs FSDP (bf16 reduce)',
      '95 % interval',
    ]);
    expect(o.series[2].markLine?.data).toEqual([
      [
        { coord: [1.2, 'fp16'], symbol: 'none' },
        { coord: [1.4, 'fp16'], symbol: 'none' },
      ],
    ]);
    expect(o.series[0].data[0].label?.formatter).toBe(speedupText(1.3, 1.2, 1.4));
    expect(speedupText(1.3, 1.2, 1.4)).toBe('1.30× [1.20–1.40] faster');
  });

  it('marks a method that stopped early as partial, with the step it stopped at', () => {
    const o = speedupOption([rows[0], { ...rows[1], partial: 'cancelled at step 4 of 8' }]);
    const [done, stopped] = o.series[0].data;
    expect(done.label?.formatter).not.toMatch(/partial/);
    expect(stopped.label?.formatter).toBe('0.84× · slower\npartial: cancelled at step 4 of 8');
    expect(stopped.itemStyle && 'decal' in stopped.itemStyle).toBe(true);
  });

  it('tilts and cuts long bar labels instead of drawing them over each other', () => {
    const long = ['fp16 · run 1', 'topk · run 1', 'FSDP (fp32) · run 2', 'fp16 · run 2'];
    const o = methodBarOption(
      long.map((name) => ({ name, color: METHOD_PALETTE[0], value: 1 })),
      'ratio',
    );
    expect(o.xAxis.axisLabel).toMatchObject({ rotate: 30, overflow: 'truncate' });
  });

  it('labels method bars with their value in their colour', () => {
    const o = methodBarOption([{ name: 'topk', color: METHOD_PALETTE[3], value: 20 }], 'ratio');
    expect(o.series[0].data[0].itemStyle.color).toBe(METHOD_PALETTE[3]);
    expect(o.series[0].label.formatter({ value: 20 })).toBe('20.00×');
  });
});
