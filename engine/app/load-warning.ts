/**
 * When a method's timings were taken under load from other processes, one sentence that says so
 * with the figures. Browser-safe (types only): the CLI and the pages word it the same way.
 */
import type { MethodSummary } from '../run/metrics.js';

/**
 * Other processes using a tenth of the machine is enough to move a step time by more than the
 * gaps between methods measured here (a few per cent), so the warning starts there.
 */
export const OTHER_CPU_WARN_SHARE = 0.1;

/** What a busy machine does to the figures, said once above the methods' lines. */
export const LOAD_WARNING_HEAD =
  'Timings taken on a busy machine: step times, and speedups computed from them, may be distorted';

type LoadFigures = Pick<MethodSummary, 'label' | 'otherCpuShare' | 'loadAverage'>;

/** The warning for one method, or undefined when its timings were taken on a quiet machine (or not measured). */
export function loadWarning(m: LoadFigures): string | undefined {
  if (m.otherCpuShare === undefined || m.otherCpuShare < OTHER_CPU_WARN_SHARE) return undefined;
  const load = m.loadAverage === undefined ? '' : ` (load average ${m.loadAverage.toFixed(1)})`;
  return `${m.label}: other processes used ${Math.round(100 * m.otherCpuShare)} % of the CPU while it ran${load}`;
}

/** Every method's warning, in order. */
export const loadWarnings = (methods: LoadFigures[]): string[] =>
  methods.map(loadWarning).filter((w): w is string => w !== undefined);
