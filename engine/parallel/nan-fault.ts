/**
 * A method forced to emit NaN, for testing the health check (GRADBENCH_FAULT=nan:<rank>:<step>[:<unit>]):
 * at that step, the averaged gradient shard that rank's reducer returns for that unit holds one
 * NaN, as a broken codec's aggregate would. The NaN sits in the middle of the rank's own part of
 * the unit (not in padding), so the rank that owns it is the one the health check names.
 */
import type { Fault } from './fault.js';
import type { FlatUnit } from './flat-unit.js';
import type { GradientReducer, ReduceContext, ReduceResult } from './grad-reducer.js';

/** Index in the unit's shard where the fault puts its NaN: the middle of its real parameters. */
export function nanFaultOffset(unit: FlatUnit): number {
  const real = Math.max(0, Math.min(unit.shardSize, unit.numel - unit.shardStart));
  return Math.floor(real / 2);
}

export class NanFaultReducer implements GradientReducer {
  readonly id: string;

  constructor(
    private readonly inner: GradientReducer,
    private readonly at: { rank: number; step: number; unit: number },
  ) {
    this.id = inner.id;
  }

  async reduce(grad: Float32Array, ctx: ReduceContext): Promise<ReduceResult> {
    const r = await this.inner.reduce(grad, ctx);
    const { rank, step, unit } = this.at;
    if (ctx.plan.rank === rank && ctx.step === step && ctx.unit.index === unit) {
      r.shard[nanFaultOffset(ctx.unit)] = NaN;
      process.stderr.write(`rank ${rank}: injected fault "nan" in unit ${unit} at step ${step}\n`);
    }
    return r;
  }
}

/** `reducer`, or the reducer wrapped to emit the NaN of a `nan` fault (checked against `units`). */
export function withNanFault(
  reducer: GradientReducer,
  fault: Fault | undefined,
  units: number,
): GradientReducer {
  if (fault?.kind !== 'nan') return reducer;
  const unit = fault.unit ?? 1;
  if (unit >= units)
    throw new Error(
      `GRADBENCH_FAULT: unit ${unit} does not exist (the model has units 0..${units - 1})`,
    );
  return new NanFaultReducer(reducer, { rank: fault.rank, step: fault.step, unit });
}
