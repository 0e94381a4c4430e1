import { describe, expect, it } from 'vitest';
import { interNodeCounter, interNodeSent } from '../../engine/parallel/inter-node-bytes.js';

describe('bytes crossing nodes, from per-link counts', () => {
  it('counts only links to ranks on other nodes', () => {
    // Rank 1 of 4 on 2 nodes: rank 0 shares its node, ranks 2 and 3 do not.
    const c = { rank: 1, world: 4, sentByPeer: [100, 0, 20, 3] };
    expect(interNodeSent(c, 2)).toBe(23);
    expect(interNodeSent(c, 1)).toBe(0);
    expect(interNodeSent(c, 4)).toBe(123);
  });

  it('reports each step’s bytes as the difference since the previous read; none on one node', () => {
    const c = { rank: 0, world: 2, sentByPeer: [0, 500] };
    const step = interNodeCounter(c, 2);
    c.sentByPeer = [0, 1500];
    expect(step()).toBe(1000);
    c.sentByPeer = [0, 1750];
    expect(step()).toBe(250);
    expect(interNodeCounter(c, 1)()).toBeUndefined();
  });
});
