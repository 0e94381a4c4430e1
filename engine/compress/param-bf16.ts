/** bf16 parameter gathers (FSDP MixedPrecision's param_dtype=bf16): 2 bytes a value, nearest-even. */
import { f32ToBf16Bits } from '../comm/bf16.js';
import type { ParamCodec } from './param-format.js';

export function createParamBf16(): ParamCodec {
  return {
    id: 'bf16',
    payloadBytes: (n) => 2 * n,
    encode(shard, out) {
      // On the bits: round the low half to nearest even; NaNs go through the scalar helper.
      const u = new Uint32Array(shard.buffer, shard.byteOffset, shard.length);
      const h = new Uint16Array(out.buffer, out.byteOffset, shard.length);
      for (let i = 0; i < u.length; i++) {
        const bits = u[i];
        h[i] =
          (bits & 0x7f800000) === 0x7f800000
            ? f32ToBf16Bits(shard[i])
            : ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
      }
    },
    decodeInto(payload, out) {
      // bf16 is the top half of an f32. A gathered payload at an odd offset is read byte-wise.
      const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
      if (payload.byteOffset % 2 === 0) {
        const h = new Uint16Array(payload.buffer, payload.byteOffset, out.length);
        for (let i = 0; i < o.length; i++) o[i] = h[i] << 16;
      } else {
        for (let i = 0; i < o.length; i++)
          o[i] = (payload[2 * i] | (payload[2 * i + 1] << 8)) << 16;
      }
    },
  };
}
