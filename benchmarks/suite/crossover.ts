/**
 * Where a method stops beating the baseline: given its speedup at several bandwidths, the
 * bandwidth at which the speedup first falls to 1 going from slow links to fast ones, linearly
 * interpolated in log-bandwidth (bandwidths in a sweep are spaced geometrically).
 */
export interface SpeedupPoint {
  gbps: number;
  speedup: number;
}

export type Crossover =
  /** Beats the baseline below `gbps`, not above. */
  | {
      kind: 'crossing';
      gbps: number;
      between: [number, number];
      /** Faster bandwidths where the speedup is above 1 again (noise, or a second regime). */
      aboveAgainAt: number[];
    }
  /** Still beats the baseline at the fastest measured bandwidth: the crossover is above the range. */
  | { kind: 'above-range'; maxGbps: number }
  /** Never beats the baseline in the range: the crossover is below it (if there is one). */
  | { kind: 'below-range'; minGbps: number };

export function crossover(points: SpeedupPoint[]): Crossover {
  const pts = points
    .filter((p) => Number.isFinite(p.speedup) && p.gbps > 0)
    .sort((a, b) => a.gbps - b.gbps);
  if (pts.length === 0) throw new Error('crossover: no finite speedup at a positive bandwidth');
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i];
    const b = pts[i + 1];
    if (a.speedup > 1 && b.speedup <= 1) {
      const la = Math.log10(a.gbps);
      const lb = Math.log10(b.gbps);
      const t = (a.speedup - 1) / (a.speedup - b.speedup);
      return {
        kind: 'crossing',
        gbps: 10 ** (la + t * (lb - la)),
        between: [a.gbps, b.gbps],
        aboveAgainAt: pts
          .slice(i + 2)
          .filter((p) => p.speedup > 1)
          .map((p) => p.gbps),
      };
    }
  }
  // No downward crossing: either faster at the fast end too (above the range), or slower there.
  if (pts.at(-1)!.speedup > 1) return { kind: 'above-range', maxGbps: pts.at(-1)!.gbps };
  return { kind: 'below-range', minGbps: pts[0].gbps };
}

/** The crossover as a table cell. */
export function describeCrossover(c: Crossover): string {
  const g = (x: number): string => `${Number(x.toPrecision(2))} Gb/s`;
  if (c.kind === 'crossing') {
    const again = c.aboveAgainAt.length
      ? `; above 1 again at ${c.aboveAgainAt.map(g).join(', ')}`
      : '';
    return `${g(c.gbps)} (between ${g(c.between[0])} and ${g(c.between[1])}${again})`;
  }
  if (c.kind === 'above-range') return `above ${g(c.maxGbps)} (still faster at the fastest link)`;
  return `below ${g(c.minGbps)} (slower at every measured bandwidth)`;
}
