/** top-k: send the k = ratio * n entries of largest magnitude as (index, value) pairs. */
import { payloadBuffer, type Compressor } from '../compressor.js';
import { sparseDecode, sparseEncode, topKIndices } from '../bits/select.js';
import { z } from 'zod';
import { defineMethod } from '../method.js';
import { ratioParam } from '../param-fields.js';

export function createTopK(ratio: number): Compressor {
  return {
    id: 'topk',
    pattern: 'all-to-all',
    sparse: true,
    encode: (x, ctx) => {
      const idx = topKIndices(x, Math.max(1, Math.ceil(ratio * x.length)));
      return sparseEncode(idx, x, payloadBuffer(ctx, idx.length * 8));
    },
    decode: (payload, n) => sparseDecode(payload, n),
  };
}

export const topk = defineMethod({
  kind: 'gradient',
  id: 'topk',
  order: 50,
  label: 'top-k',
  description: 'the k = ratio * n largest magnitudes as (index, value) pairs',
  params: z.object({ ratio: ratioParam(0.01) }).strict(),
  defaultErrorFeedback: 'ef',
  pattern: () => 'all-to-all',
  create: (p) => createTopK(p.ratio),
});
