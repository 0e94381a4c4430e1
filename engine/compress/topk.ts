/** top-k: send the k = ratio * n entries of largest magnitude as (index, value) pairs. */
import type { Compressor } from './compressor.js';
import { sparseDecode, sparseEncode, topKIndices } from './select.js';

export function createTopK(ratio: number): Compressor {
  return {
    id: 'topk',
    pattern: 'all-to-all',
    sparse: true,
    encode: (x) => sparseEncode(topKIndices(x, Math.max(1, Math.ceil(ratio * x.length))), x),
    decode: (payload, n) => sparseDecode(payload, n),
  };
}
