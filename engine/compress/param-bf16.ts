/** bf16 parameter gathers (FSDP MixedPrecision's param_dtype=bf16): 2 bytes a value, nearest-even. */
import { bf16BitsToF32, f32ToBf16Bits } from '../comm/bf16.js';
import type { ParamCodec } from './param-codec.js';

export function createParamBf16(): ParamCodec {
  return {
    id: 'bf16',
    payloadBytes: (n) => 2 * n,
    encode(shard, out) {
      const h = new Uint16Array(out.buffer, out.byteOffset, shard.length);
      for (let i = 0; i < shard.length; i++) h[i] = f32ToBf16Bits(shard[i]);
    },
    decodeInto(payload, out) {
      // A gathered payload may sit at an odd offset; bf16 halves are read as byte pairs.
      const b = payload;
      for (let i = 0; i < out.length; i++) out[i] = bf16BitsToF32(b[2 * i] | (b[2 * i + 1] << 8));
    },
  };
}
