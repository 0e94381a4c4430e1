/**
 * Repeated, interleaved measurements: with `repeat` N a run executes its whole method list N
 * times in turn (baseline, methods, baseline, methods, ...), each time on fresh ranks, so slow
 * drift of the machine's load falls on every method alike. Repetition r > 1 of a method runs under
 * the key `<key>@<r>`; speedups pair repetition r of a method with repetition r of the baseline.
 */

const REPEAT_MARK = '@';

export const repeatKey = (key: string, repetition: number): string =>
  repetition <= 1 ? key : `${key}${REPEAT_MARK}${repetition}`;

/** The key of a method's first repetition, and which repetition `key` is. */
export function splitRepeatKey(key: string): { base: string; repetition: number } {
  const at = key.lastIndexOf(REPEAT_MARK);
  const r = at > 0 ? Number(key.slice(at + 1)) : NaN;
  return Number.isInteger(r) && r > 1
    ? { base: key.slice(0, at), repetition: r }
    : { base: key, repetition: 1 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048,
  2.045, 2.042,
];

/**
 * Median and 95 % interval of a ratio measured in paired repetitions. Ratios are compared on a log
 * scale (1.2x faster and 1.2x slower are equally far from 1); the interval is Student's t on the
 * mean log ratio, which needs no more than the 3-5 repetitions a run can afford (an order-statistic
 * interval of the median reaches 95 % only from 6 samples).
 */
export function ratioInterval(ratios: number[]): { median: number; low: number; high: number } {
  const logs = ratios.filter((r) => r > 0 && Number.isFinite(r)).map(Math.log);
  const n = logs.length;
  if (n === 0) return { median: NaN, low: NaN, high: NaN };
  const mid = median(ratios.filter((r) => r > 0 && Number.isFinite(r)));
  if (n === 1) return { median: mid, low: NaN, high: NaN };
  const mean = logs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (T975[n - 2] ?? 1.96) * (sd / Math.sqrt(n));
  return { median: mid, low: Math.exp(mean - half), high: Math.exp(mean + half) };
}
