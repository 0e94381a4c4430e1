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
} from '../compressor.js';
import { kthLargest } from '../bits/select.js';
import { SketchFlowState, sketchFlow } from '../sketch/sketch-flow.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { indexBitsParam, compressRatioParam } from '../param-fields.js';

export interface LhcOptions {
  density: number;
  indexBits: 1 | 4;
  compressRatio: number;
}

export function createLhc(o: LhcOptions): Compressor {
  const state = new SketchFlowState();
  /** The k-th largest magnitude, k = ceil(density x values): values at or above it are kept. */
  const threshold = (x: Float32Array): number => {
    if (x.length === 0) return 0;
    for (let i = 0; i < x.length; i++) x[i] = Math.abs(x[i]);
    return kthLargest(x, Math.max(1, Math.ceil(o.density * x.length)));
  };
  return {
    id: 'lhc',
    pattern: 'rounds',
    sparse: true,
    ...roundsOnlyCodec('lhc'),
    communicate: (p: Float32Array, io: RoundsIo): Promise<RoundsResult> =>
      sketchFlow(
        p,
        io,
        {
          sharded: false,
          threshold,
          indexGroup: o.indexBits === 1 ? 1 : 4,
          compressRatio: o.compressRatio,
          compresses: () => true,
        },
        state,
      ),
  };
}

export const lhc = defineMethod({
  kind: 'gradient',
  id: 'lhc',
  order: 130,
  label: 'LHC',
  description:
    'lossless homomorphic compression: top-density values as bitmap index (OR) + count sketch (summed), peeled on decode',
  params: z
    .object({
      density: z.number().gt(0).max(1).default(0.2),
      indexBits: indexBitsParam,
      compressRatio: compressRatioParam,
    })
    .strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'rounds',
  create: (p) => createLhc(p),
});
