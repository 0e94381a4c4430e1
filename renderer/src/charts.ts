/** ECharts options shared by the Live and Results pages (plain data in, option object out). */
export interface Series {
  name: string;
  points: [number, number][];
}

const axisName = (name: string) => ({ name, nameLocation: 'middle' as const, nameGap: 28 });

export function lineOption(series: Series[], xName: string, yName: string, yLog = false) {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, type: 'scroll' },
    grid: { left: 60, right: 20, top: 36, bottom: 44 },
    xAxis: { type: 'value', ...axisName(xName), scale: true },
    yAxis: { type: yLog ? 'log' : 'value', ...axisName(yName), nameGap: 44, scale: true },
    series: series.map((s) => ({
      name: s.name,
      type: 'line',
      showSymbol: s.points.length < 30,
      data: s.points,
    })),
  };
}

export function barOption(
  categories: string[],
  bars: { name: string; values: (number | null)[]; stack?: string }[],
  yName: string,
  markLine?: number,
) {
  return {
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    legend: { top: 0, type: 'scroll' },
    grid: { left: 60, right: 20, top: 36, bottom: 60 },
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
      data: b.values,
      ...(i === 0 && markLine !== undefined
        ? {
            markLine: {
              symbol: 'none',
              silent: true,
              data: [{ yAxis: markLine }],
              lineStyle: { type: 'dashed' },
            },
          }
        : {}),
    })),
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
