/** The stall watchdog's wording, from heartbeat times and what each rank's receives wait on. */
import { describe, expect, it } from 'vitest';
import { stallMessage, stalledLinks } from '../../engine/app/launcher.js';

describe('stall watchdog message', () => {
  it('names every silent rank with how long it has been silent', () => {
    expect(stallMessage('FSDP (fp32)', 10_000, [9_500, 2_000, 1_000, 9_900], 10_000)).toBe(
      'no step completed for 10.0 s during FSDP (fp32): rank 1 (silent for 8.0 s), rank 2 (silent for 9.0 s) have stopped responding (a stuck process); run stopped',
    );
  });

  it('names the stalled links when every rank responds', () => {
    const msg = stallMessage('int8', 5_000, [4_800, 4_900, 4_700], 5_000, 3_000, [[1], [0], [1]]);
    expect(msg).toBe(
      'no step completed for 5.0 s during int8 although every rank still responds: the ranks are waiting on communication over the links rank 0 <-> rank 1, rank 1 -> rank 2 (a stalled link); run stopped',
    );
  });

  it('stays general when no rank reported what it waits on', () => {
    expect(stallMessage('fsdp', 4_000, [3_900, 3_900], 4_000)).toMatch(
      /every rank still responds: the ranks are waiting on communication \(a stalled link\)/,
    );
    expect(stalledLinks([[], []])).toEqual([]);
    expect(stalledLinks([[2], [], [0, 1]])).toEqual(['rank 0 <-> rank 2', 'rank 1 -> rank 2']);
  });
});
