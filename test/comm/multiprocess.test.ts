import { afterEach, describe, expect, it } from 'vitest';
import { killRanks, type RankProcess } from '../../engine/launch/local-ranks.js';
import { alivePids, runRanks, until } from '../helpers/ranks.js';

let procs: RankProcess[] = [];
afterEach(() => killRanks(procs));

describe('collectives across 4 real rank processes over loopback TCP', () => {
  it('match the single-process reference for every collective, dtype and op (2 nodes x 2)', async () => {
    procs = await runRanks({ world: 4, localWorld: 2, args: ['--lengths', '0,1,7,1000003'] });
    const exits = await Promise.all(procs.map((p) => p.exited));
    for (const p of procs) {
      expect(exits[p.rank], `rank ${p.rank} stderr: ${p.stderr.join('\n')}`).toEqual({
        code: 0,
        signal: null,
      });
      const done = p.stdout.map((l) => JSON.parse(l)).find((m) => m.done);
      expect(done.checks).toBeGreaterThan(200);
    }
  }, 240_000);

  it('a rank killed mid-collective makes every other rank fail within 5 s naming it, leaving no process', async () => {
    // A 1 Gb/s emulated link keeps each 16 MiB all-reduce in flight for ~200 ms.
    procs = await runRanks({
      world: 4,
      args: ['--soak'],
      network: { intra: '1GbE', inter: '1GbE' },
    });
    await until(
      () => procs.every((p) => p.stdout.some((l) => l.includes('"soak":"started"'))),
      30_000,
      'soak start',
    );
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    procs[2].child.kill('SIGKILL');
    const survivors = procs.filter((p) => p.rank !== 2);
    const exits = await Promise.all(survivors.map((p) => p.exited));
    const elapsed = Date.now() - killedAt;
    expect(elapsed).toBeLessThan(5000);
    for (const [i, p] of survivors.entries()) {
      expect(exits[i].code).toBe(1);
      expect(p.stderr.join('\n'), p.stderr.join(' // ')).toMatch(/rank 2 disconnected/);
    }
    await procs[2].exited;
    expect(alivePids(procs)).toEqual([]);
  });

  it('a rank that never starts is named in a join timeout', async () => {
    procs = await runRanks({ world: 3, joinTimeoutMs: 1500, args: ['--lengths', '1'], env: {} });
    procs[2].child.kill('SIGKILL');
    const exits = await Promise.all(procs.slice(0, 2).map((p) => p.exited));
    expect(exits.map((e) => e.code)).toEqual([1, 1]);
    expect(procs[0].stderr.join('\n')).toMatch(/rank 2 did not join within 1.5 s/);
  });
});
