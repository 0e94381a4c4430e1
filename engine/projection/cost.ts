/**
 * Alpha-beta cost of the collectives the engine runs (engine/comm/collectives.ts), on a group of
 * ranks laid out in contiguous nodes. A link moves `gbps` one way after `latencyUs`:
 *   ring reduce-scatter / all-gather  (n-1) alpha + (n-1)/n  bytes / beta
 *   ring all-reduce                  2(n-1) alpha + 2(n-1)/n bytes / beta
 *   hierarchical all-reduce          reduce-scatter in the node, all-reduce of 1/p across nodes,
 *                                    all-gather in the node
 *   all-to-all                       one alpha; each of the n-1 parts on its own link, or all
 *                                    inter-node parts through one NIC when `sharedNic`
 * `bytes` is always the logical vector (every rank's part together). A ring that crosses nodes
 * runs at its slowest hop: the inter-node link.
 */
import type { CollectiveCall, LinkTier } from '../run/projection-types.js';

/** Bytes a link of `gbps` moves per millisecond. */
export const bytesPerMs = (gbps: number): number => (gbps * 1e9) / 8 / 1000;
const alphaMs = (l: LinkTier): number => l.latencyUs / 1000;

/** Ranks of one collective: how many, and how they sit on nodes. */
export interface GroupShape {
  size: number;
  /** Nodes the group spans, and its ranks per node (size = nodes * perNode). */
  nodes: number;
  perNode: number;
}

export interface Links {
  intra: LinkTier;
  inter: LinkTier;
  sharedNic: boolean;
}

/** The link a ring over `g` is paced by. */
export const ringLink = (g: GroupShape, links: Links): LinkTier =>
  g.nodes > 1 ? links.inter : links.intra;

export function ringReduceScatterMs(bytes: number, n: number, link: LinkTier): number {
  if (n <= 1) return 0;
  return (n - 1) * alphaMs(link) + (((n - 1) / n) * bytes) / bytesPerMs(link.gbps);
}

/** A ring all-gather moves the same bytes as a ring reduce-scatter, in reverse. */
export const ringAllGatherMs = ringReduceScatterMs;

export function ringAllReduceMs(bytes: number, n: number, link: LinkTier): number {
  return 2 * ringReduceScatterMs(bytes, n, link);
}

export function hierarchicalAllReduceMs(bytes: number, g: GroupShape, links: Links): number {
  if (g.nodes <= 1 || g.perNode <= 1) return ringAllReduceMs(bytes, g.size, ringLink(g, links));
  const inNode = ringReduceScatterMs(bytes, g.perNode, links.intra);
  return 2 * inNode + ringAllReduceMs(bytes / g.perNode, g.nodes, links.inter);
}

export function allToAllMs(bytes: number, g: GroupShape, links: Links): number {
  const n = g.size;
  if (n <= 1) return 0;
  const part = bytes / n;
  const intraPeers = g.perNode - 1;
  const interPeers = n - g.perNode;
  // Per-pair links carry one part each at once; a shared NIC serialises its tier's parts.
  const fan = (peers: number): number => (links.sharedNic ? peers : Math.min(peers, 1));
  const tier = (peers: number, l: LinkTier): number =>
    peers > 0 ? alphaMs(l) + (fan(peers) * part) / bytesPerMs(l.gbps) : 0;
  return Math.max(tier(intraPeers, links.intra), tier(interPeers, links.inter));
}

/** Duration of one collective call on group `g`. */
export function collectiveMs(c: CollectiveCall, g: GroupShape, links: Links): number {
  const link = ringLink(g, links);
  const extra = (c.rounds ?? 0) * 2 * Math.max(0, g.size - 1) * alphaMs(link);
  // Paced by the rank with the most to send (sentBytes still counts the mean).
  const bytes = c.bytes * Math.max(1, c.slowest ?? 1);
  switch (c.op) {
    case 'all-gather':
      return ringAllGatherMs(bytes, g.size, link) + extra;
    case 'reduce-scatter':
      return ringReduceScatterMs(bytes, g.size, link) + extra;
    case 'all-reduce':
      return ringAllReduceMs(bytes, g.size, link) + extra;
    case 'hierarchical-all-reduce':
      return hierarchicalAllReduceMs(bytes, g, links) + extra;
    case 'all-to-all':
      return allToAllMs(bytes, g, links) + extra;
  }
}

/** Bytes one rank sends in a collective (what the engine's wireBytes counts). */
export function sentBytes(c: CollectiveCall, n: number): number {
  if (n <= 1) return 0;
  const f = (n - 1) / n;
  return c.op === 'all-reduce' || c.op === 'hierarchical-all-reduce'
    ? 2 * f * c.bytes
    : f * c.bytes;
}
