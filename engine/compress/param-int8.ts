/**
 * Blockwise int8 parameter gathers (ZeRO++ qwZ): per block of 256 values one f32 scale
 * max|x| / 127 and codes round(x / scale). 256-value blocks keep the scales at 1.6 % of the
 * codes and bound each value's error by half a step of its own block's range, so one large
 * weight does not coarsen the whole unit.
 */
import { quantizeBlocks } from './blockwise-int.js';
import { blockCount } from './bits/bits.js';
import type { ParamCodec } from './param-format.js';

export const PARAM_INT8_BLOCK = 256;
const L = 127;

export function createParamInt8(block = PARAM_INT8_BLOCK): ParamCodec {
  const scaleBytes = (n: number): number => 4 * blockCount(n, block);
  return {
    id: 'int8',
    payloadBytes: (n) => scaleBytes(n) + n,
    encode(shard, out) {
      // Layout: [max|x| per block, f32][int8 codes]; codes are quantised straight into `out`.
      const s = scaleBytes(shard.length);
      const codes = new Int8Array(out.buffer, out.byteOffset + s, shard.length);
      const { absmax } = quantizeBlocks(shard, block, L, codes);
      out.set(new Uint8Array(absmax.buffer, 0, s), 0);
    },
    decodeInto(payload, out) {
      const n = out.length;
      const s = scaleBytes(n);
      // Scales are copied out: a gathered payload need not be 4-byte aligned.
      const absmax = new Float32Array(payload.slice(0, s).buffer);
      const codes = new Int8Array(payload.buffer, payload.byteOffset + s, n);
      for (let b = 0; b < absmax.length; b++) {
        const step = absmax[b] / L;
        const end = Math.min(n, (b + 1) * block);
        for (let i = b * block; i < end; i++) out[i] = codes[i] * step;
      }
    },
  };
}
