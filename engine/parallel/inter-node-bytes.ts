/**
 * Bytes that cross between nodes, counted per link: ranks r and s share a node when
 * floor(r / perNode) == floor(s / perNode) (the layout of shard-plan.ts). Reads the links' own
 * counts, so every collective (gathers, reductions, a method's own rounds, the norm all-reduce)
 * is in the figure exactly as sent, frame headers included.
 */
export interface PeerCounts {
  readonly rank: number;
  readonly world: number;
  /** Cumulative bytes sent to each peer (index = peer rank). */
  readonly sentByPeer: readonly number[];
}

/** Cumulative bytes `c` has sent to ranks outside its node. */
export function interNodeSent(c: PeerCounts, nodes: number): number {
  const perNode = c.world / nodes;
  const node = (r: number): number => Math.floor(r / perNode);
  let total = 0;
  c.sentByPeer.forEach((bytes, peer) => {
    if (node(peer) !== node(c.rank)) total += bytes;
  });
  return total;
}

/**
 * A reader of the bytes sent to other nodes since its previous call (undefined on one node). Call
 * it once every operation of a step is done: the counts are those of the last completed one.
 */
export function interNodeCounter(c: PeerCounts, nodes: number): () => number | undefined {
  if (nodes <= 1) return () => undefined;
  let last = interNodeSent(c, nodes);
  return () => {
    const now = interNodeSent(c, nodes);
    const step = now - last;
    last = now;
    return step;
  };
}
