/**
 * The node structure of a reduction group, for the methods that reduce inside each node before
 * crossing nodes (qgZ, TAGC): the group's indices as nodes x positions.
 */

/**
 * The group's indices by node (ranks r and s share a node when r / perNode == s / perNode), when
 * there are at least two nodes and every node holds the same number (at least two) of them;
 * otherwise undefined: the group has no two-level structure and reduces in one flat exchange.
 */
export function nodeGrid(group: readonly number[], perNode: number): number[][] | undefined {
  const byNode = new Map<number, number[]>();
  group.forEach((r, i) => {
    const n = Math.floor(r / perNode);
    byNode.set(n, [...(byNode.get(n) ?? []), i]);
  });
  const nodes = [...byNode.values()];
  const k = nodes[0].length;
  return nodes.length > 1 && k > 1 && nodes.every((n) => n.length === k) ? nodes : undefined;
}

/** Where a group index sits in the grid: its node's indices, and its position in that node. */
export interface GridPlace {
  node: number[];
  pos: number;
  /** The indices at position q of every node, in node order (the owners a position serves). */
  column(q: number): number[];
}

export function placeIn(grid: number[][], index: number): GridPlace {
  const node = grid.find((n) => n.includes(index))!;
  return { node, pos: node.indexOf(index), column: (q) => grid.map((n) => n[q]) };
}
