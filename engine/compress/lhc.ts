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
import { sketchFlow, type SketchStats } from './sketch-flow.js';

export interface LhcOptions {
  density: number;
  indexBits: 1 | 4;
  compressRatio: number;
}

export function createLhc(o: LhcOptions): Compressor & { lastStats?: SketchStats } {
  const sparsify = (x: Float32Array): Float32Array => {
    const out = new Float32Array(x.length);
    for (const i of topKIndices(x, Math.ceil(o.density * x.length))) out[i] = x[i];
    return out;
  };
  const c: Compressor & { lastStats?: SketchStats } = {
    id: 'lhc',
    pattern: 'rounds',
    sparse: true,
    ...roundsOnlyCodec('lhc'),
    communicate: async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
      const r = await sketchFlow(p, io, {
        sharded: false,
        sparsify,
        indexGroup: o.indexBits === 1 ? 1 : 4,
        compressRatio: o.compressRatio,
        compresses: () => true,
      });
      c.lastStats = r.stats;
      return r;
    },
  };
  return c;
}
