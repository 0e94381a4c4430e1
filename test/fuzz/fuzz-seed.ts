/**
 * Seeds for the randomized tests: fixed by default so a run is reproducible, overridable with
 * GRADBENCH_FUZZ_SEED to explore, and always named in a failure so it can be replayed.
 */
import { rng } from '../../engine/util/rng.js';

export const FUZZ_SEED = Number(process.env.GRADBENCH_FUZZ_SEED ?? 20_261_201);

export interface Fuzz {
  /** Uniform in [0, 1). */
  next: () => number;
  /** Integer in [0, n). */
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

export function fuzz(salt: number): Fuzz {
  const next = rng((FUZZ_SEED ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: (items) => items[int(items.length)], chance: (p) => next() < p };
}

/**
 * Runs `cases` cases; a failure is rethrown naming the case, the seed and how to replay it, with
 * the input the case last passed to `show`.
 */
export async function forEachCase(
  cases: number,
  run: (i: number, show: (input: string) => void) => void | Promise<void>,
): Promise<void> {
  let input = '';
  const show = (text: string): void => {
    input = text;
  };
  for (let i = 0; i < cases; i++) {
    try {
      await run(i, show);
    } catch (e) {
      const shown =
        input.length > 300 ? `${input.slice(0, 300)}... (${input.length} chars)` : input;
      throw new Error(
        `fuzz case ${i} failed with seed ${FUZZ_SEED} (replay: GRADBENCH_FUZZ_SEED=${FUZZ_SEED}): ` +
          `${(e as Error).message}\n  input: ${shown}`,
        { cause: e },
      );
    }
  }
}
