/**
 * Report figures rendered server-side by ECharts into SVG strings (no DOM, no browser): line
 * charts for curves and sweeps, bar charts (stacked or grouped) for breakdowns. Every figure
 * carries a caption line (machine, backend, date) under its title.
 */
import * as echarts from 'echarts';

const WIDTH = 760;
const HEIGHT = 420;
const FONT = 'Helvetica, Arial, sans-serif';

export interface LineSeries {
  name: string;
  data: [number, number][];
  dashed?: boolean;
  /** Fixed colour, e.g. to draw a prediction in its measurement's colour. */
  color?: string;
}

/** ECharts' default palette, for callers that pair series by colour. */
export const PALETTE = [
  '#5470c6',
  '#91cc75',
  '#fac858',
  '#ee6666',
  '#73c0de',
  '#3ba272',
  '#fc8452',
  '#9a60b4',
  '#ea7ccc',
];

export interface LineChartSpec {
  title: string;
  caption: string;
  xName: string;
  yName: string;
  xLog?: boolean;
  yLog?: boolean;
  series: LineSeries[];
  /** A horizontal reference line (e.g. speedup 1 = the baseline). */
  refY?: { value: number; label: string };
  /** Vertical marks (e.g. crossover bandwidths), one per series name. */
  refX?: { value: number; label: string }[];
}

export interface BarSeries {
  name: string;
  data: number[];
  stack?: string;
}

export interface BarChartSpec {
  title: string;
  caption: string;
  categories: string[];
  yName: string;
  yLog?: boolean;
  horizontal?: boolean;
  series: BarSeries[];
}

function render(option: echarts.EChartsCoreOption, height = HEIGHT): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  chart.setOption({
    animation: false,
    textStyle: { fontFamily: FONT },
    backgroundColor: '#fff',
    ...option,
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return `${svg}\n`;
}

const titleBlock = (title: string, caption: string) => ({
  text: title,
  subtext: caption,
  left: 'center',
  textStyle: { fontSize: 14 },
  subtextStyle: { fontSize: 10, color: '#555' },
});

const legend = { bottom: 4, type: 'plain' as const, textStyle: { fontSize: 11 } };

export function lineChartSvg(spec: LineChartSpec): string {
  // Reference lines ride on the series' markLine: y = refY on the first, each refX on its series.
  const marks = (i: number, name: string): object[] => [
    ...(i === 0 && spec.refY
      ? [
          {
            yAxis: spec.refY.value,
            lineStyle: { color: '#888', type: 'dashed' },
            label: { formatter: spec.refY.label, position: 'insideEndTop' },
          },
        ]
      : []),
    ...(spec.refX ?? [])
      .filter((r) => r.label === name)
      .map((r) => ({ xAxis: r.value, lineStyle: { type: 'dotted' }, label: { show: false } })),
  ];
  return render({
    title: titleBlock(spec.title, spec.caption),
    legend,
    grid: { left: 70, right: 30, top: 70, bottom: 70 },
    xAxis: {
      type: spec.xLog ? 'log' : 'value',
      name: spec.xName,
      nameLocation: 'middle',
      nameGap: 28,
      scale: !spec.xLog,
    },
    yAxis: {
      type: spec.yLog ? 'log' : 'value',
      name: spec.yName,
      nameLocation: 'middle',
      nameGap: 50,
      scale: true,
    },
    series: spec.series.map((s, i) => {
      const data = marks(i, s.name);
      return {
        type: 'line',
        name: s.name,
        data: s.data,
        showSymbol: s.data.length <= 30,
        ...(s.dashed ? { lineStyle: { type: 'dashed' } } : {}),
        ...(s.color ? { color: s.color } : {}),
        ...(data.length ? { markLine: { silent: true, symbol: 'none', data } } : {}),
      };
    }),
  });
}

export function barChartSvg(spec: BarChartSpec): string {
  const cat = {
    type: 'category',
    data: spec.categories,
    axisLabel: { fontSize: 10, interval: 0, rotate: spec.horizontal ? 0 : 30 },
  };
  const val = {
    type: spec.yLog ? 'log' : 'value',
    name: spec.yName,
    nameLocation: 'middle',
    nameGap: spec.horizontal ? 28 : 50,
  };
  const height = spec.horizontal ? Math.max(HEIGHT, 120 + spec.categories.length * 24) : HEIGHT;
  return render(
    {
      title: titleBlock(spec.title, spec.caption),
      legend,
      grid: spec.horizontal
        ? { left: 150, right: 30, top: 70, bottom: 70 }
        : { left: 70, right: 30, top: 70, bottom: 110 },
      xAxis: spec.horizontal ? val : cat,
      yAxis: spec.horizontal ? { ...cat, inverse: true, axisLabel: { fontSize: 10 } } : val,
      series: spec.series.map((s) => ({
        type: 'bar',
        name: s.name,
        data: s.data,
        ...(s.stack ? { stack: s.stack } : {}),
      })),
    },
    height,
  );
}
