/**
 * Numerical health of a training step, checked on every rank from figures the step has anyway:
 *   - each rank's loss: NaN, ±Infinity, or a spike (above `spikeFactor` x the mean of that rank's
 *     last `window` finite losses; checked once MIN_SPIKE_HISTORY losses are known);
 *   - each rank's reduced gradient shard per FSDP unit, by its sum of squares (the global norm is
 *     made of these): a NaN or Inf anywhere in the shard makes the sum NaN or Inf, and only then
 *     is the shard scanned to name the parameter holding the bad value;
 *   - the global gradient norm: exactly 0 (nothing would train).
 * The trainer exchanges every rank's loss and per-unit sums in the all-reduce that yields the
 * global norm, so every rank reaches the same findings and the same decisions: skip the update of
 * a step with a non-finite value (clipping and AdamW would spread one NaN into every weight), and
 * stop the run when `stopOnError` is set. Each rank reports only the findings that name it.
 */
import type { HealthWarning } from '../run/metrics.js';

// The settings are part of a profile (run/), the checks that use them live here.
import type { HealthOptions } from '../run/health-settings.js';
export { HEALTH_DEFAULTS, type HealthOptions } from '../run/health-settings.js';

/** Losses a rank must have before a spike can be judged (the first steps move fast). */
export const MIN_SPIKE_HISTORY = 3;

/** Exit code of a rank stopped by the health check (the launcher reports the warning instead). */
export const HEALTH_STOP_EXIT = 3;

/** A warning before the method key is attached (the trainer does not know it). */
export type HealthFinding = Omit<HealthWarning, 'method'>;

/** Where a unit's bad gradient value is, found by scanning one rank's shard. */
export interface BadValueLocation {
  kind: 'nan' | 'inf';
  /** `<unit> (<parameter>)`, e.g. `block1 (mlp.wfc)`; `<unit> (padding)` past the parameters. */
  layer: string;
  /** Non-finite values in the shard. */
  count: number;
  /** Values in the shard. */
  of: number;
}

export interface NamedSegment {
  name: string;
  offset: number;
  size: number;
}

/** 'nan' or 'inf' for a value that is not finite, undefined otherwise. */
export function nonFinite(x: number): 'nan' | 'inf' | undefined {
  if (Number.isNaN(x)) return 'nan';
  return Number.isFinite(x) ? undefined : 'inf';
}

/** Sum of squares in f64: one pass, and a NaN or Inf anywhere shows in the result. */
export function sumSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/**
 * Scans the shard `[shardStart, shardStart + shard.length)` of a unit's flat vector for non-finite
 * values; names the parameter segment of the first one. Undefined when all are finite.
 */
export function locateNonFinite(
  unitName: string,
  segments: readonly NamedSegment[],
  shard: Float32Array,
  shardStart: number,
): BadValueLocation | undefined {
  let first = -1;
  let count = 0;
  for (let i = 0; i < shard.length; i++) {
    if (Number.isFinite(shard[i])) continue;
    if (first < 0) first = i;
    count++;
  }
  if (first < 0) return undefined;
  const at = shardStart + first;
  const seg = segments.find((s) => at >= s.offset && at < s.offset + s.size);
  return {
    kind: nonFinite(shard[first])!,
    layer: `${unitName} (${seg?.name ?? 'padding'})`,
    count,
    of: shard.length,
  };
}

/** The mean of the last `size` values pushed. */
export class RunningMean {
  private readonly values: number[] = [];
  private total = 0;

  constructor(readonly size: number) {}

  get count(): number {
    return this.values.length;
  }

  get mean(): number {
    return this.values.length ? this.total / this.values.length : NaN;
  }

  push(x: number): void {
    this.values.push(x);
    this.total += x;
    if (this.values.length > this.size) this.total -= this.values.shift()!;
  }
}

/** One step's figures, the same on every rank after the exchange. */
export interface StepFigures {
  step: number;
  /** Each rank's loss, by rank. */
  losses: ArrayLike<number>;
  units: number;
  /** Sum of squares of `rank`'s reduced gradient shard of `unit`. */
  unitSq(rank: number, unit: number): number;
  gradNorm: number;
}

const fmt = (x: number): string => x.toPrecision(4).replace(/\.?0+$/, '');
const KIND_WORD: Record<'nan' | 'inf', string> = { nan: 'NaN', inf: 'Inf' };

/** Running health state of one run on one rank: a loss window per rank. */
export class HealthMonitor {
  private readonly recent: RunningMean[];

  constructor(
    readonly opts: HealthOptions,
    world: number,
  ) {
    if (!(opts.spikeFactor > 1)) throw new Error('health.spikeFactor must be greater than 1');
    if (!(Number.isInteger(opts.window) && opts.window >= 1))
      throw new Error('health.window must be a whole number of steps, at least 1');
    this.recent = Array.from({ length: world }, () => new RunningMean(opts.window));
  }

  /**
   * Every finding of the step, for every rank. `locate(rank, unit)` scans a bad shard; it can
   * only answer for the caller's own rank, so other ranks' findings name the unit without the
   * parameter (they are reported by their own rank).
   */
  check(
    f: StepFigures,
    locate: (rank: number, unit: number) => BadValueLocation | undefined,
  ): HealthFinding[] {
    const out: HealthFinding[] = [];
    const { step } = f;
    for (let rank = 0; rank < f.losses.length; rank++) {
      const loss = f.losses[rank];
      const bad = nonFinite(loss);
      const recent = this.recent[rank];
      if (bad) {
        out.push({
          kind: bad,
          step,
          rank,
          subject: 'loss',
          message: `loss is ${bad === 'nan' ? 'NaN' : String(loss)}`,
        });
        continue; // a non-finite loss stays out of the running mean
      }
      const mean = recent.mean;
      if (recent.count >= Math.min(MIN_SPIKE_HISTORY, recent.size)) {
        if (mean > 0 && loss > this.opts.spikeFactor * mean) {
          out.push({
            kind: 'loss-spike',
            step,
            rank,
            subject: 'loss',
            loss,
            mean,
            message: `loss spike: ${fmt(loss)} is ${fmt(loss / mean)}x the mean ${fmt(mean)} of the last ${recent.count} steps (health.spikeFactor ${this.opts.spikeFactor})`,
          });
        }
      }
      recent.push(loss);
    }
    for (let rank = 0; rank < f.losses.length; rank++) {
      for (let unit = 0; unit < f.units; unit++) {
        const bad = nonFinite(f.unitSq(rank, unit));
        if (!bad) continue;
        const where = locate(rank, unit);
        const kind = where?.kind ?? bad;
        out.push({
          kind,
          step,
          rank,
          subject: 'gradient',
          unit,
          ...(where ? { layer: where.layer, count: where.count } : {}),
          message: where
            ? `${KIND_WORD[kind]} in the gradient of ${where.layer}: ${where.count} of ${where.of} values of rank ${rank}'s shard`
            : `${KIND_WORD[kind]} in the sum of squares of rank ${rank}'s gradient shard of unit ${unit}`,
        });
      }
    }
    if (f.gradNorm === 0) {
      // Global: every rank sees it; rank 0 reports it.
      out.push({
        kind: 'zero-grad-norm',
        step,
        rank: 0,
        subject: 'gradient',
        message: 'gradient norm is 0: the update changes no parameter through the gradient',
      });
    }
    return out;
  }

  /** True when the run must end at this step. */
  stops(findings: readonly HealthFinding[]): boolean {
    return this.opts.stopOnError && findings.length > 0;
  }
}

/** A step whose update would be non-finite is skipped (identically on every rank). */
export function skipsUpdate(findings: readonly HealthFinding[]): boolean {
  return findings.some((f) => f.kind === 'nan' || f.kind === 'inf');
}
