/** top-k: send the k = ratio * n entries of largest magnitude as (index, value) pairs. */
import { payloadBuffer, type Compressor } from './compressor.js';
import { sparseDecode, sparseEncode, topKIndices } from './select.js';

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
