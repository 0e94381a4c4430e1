/**
 * LHC (Li et al., ICML 2024) applied to a unit's gradient as a whole: keep the top `density`
 * fraction by magnitude, then bitmap index (OR all-reduce) + count sketch (sum all-reduce);
 * every rank peels the whole unit and keeps its chunk. Every layer is compressed.
 */
import {
  roundsOnlyCodec,
  type Compressor,
  type RoundsIo,
  type RoundsResult,
} from './compressor.js';
import { topKIndices } from './select.js';
import { SketchFlowState, sketchFlow, type SketchStats } from './sketch-flow.js';

export interface LhcOptions {
  density: number;
  indexBits: 1 | 4;
  compressRatio: number;
}

export function createLhc(
  o: LhcOptions,
): Compressor & { lastStats?: SketchStats & Record<string, number> } {
  const state = new SketchFlowState();
  /** Keeps the top `density` fraction by magnitude, in place. */
  const drop = (x: Float32Array): void => {
    const keep = topKIndices(x, Math.ceil(o.density * x.length));
    const kept = new Float32Array(keep.length);
    for (let k = 0; k < keep.length; k++) kept[k] = x[keep[k]];
    x.fill(0);
    for (let k = 0; k < keep.length; k++) x[keep[k]] = kept[k];
  };
  const c: Compressor & { lastStats?: SketchStats & Record<string, number> } = {
    id: 'lhc',
    pattern: 'rounds',
    sparse: true,
    ...roundsOnlyCodec('lhc'),
    communicate: async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
      const r = await sketchFlow(
        p,
        io,
        {
          sharded: false,
          drop,
          indexGroup: o.indexBits === 1 ? 1 : 4,
          compressRatio: o.compressRatio,
          compresses: () => true,
        },
        state,
      );
      c.lastStats = r.stats as SketchStats & Record<string, number>;
      return r;
    },
  };
  return c;
}
