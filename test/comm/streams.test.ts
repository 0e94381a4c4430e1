import { afterEach, describe, expect, it } from 'vitest';
import { killRanks, type RankProcess } from '../../engine/launch/local-ranks.js';
import { compiledFile } from '../../engine/util/runtime-path.js';
import { runRanks } from '../helpers/ranks.js';

let procs: RankProcess[] = [];
afterEach(() => killRanks(procs));

describe('two comm streams with program-ordered tasks', () => {
  it('keep every rank in step while continuations are delayed at random (2 nodes x 2, 40 steps)', async () => {
    procs = await runRanks({
      world: 4,
      localWorld: 2,
      script: compiledFile('engine/parallel/stream-check.ts'),
      args: ['--steps', '40', '--units', '5', '--max-delay-ms', '3'],
    });
    const exits = await Promise.all(procs.map((p) => p.exited));
    for (const p of procs) {
      expect(exits[p.rank], `rank ${p.rank} stderr: ${p.stderr.join('\n')}`).toEqual({
        code: 0,
        signal: null,
      });
      const done = p.stdout.map((l) => JSON.parse(l) as { done?: boolean; checks: number });
      // 40 steps x 5 units x (1 gather + 3 reduction checks).
      expect(done.find((m) => m.done)?.checks).toBe(40 * 5 * 4);
    }
  }, 120_000);
});
