/**
 * Codecs for the parameter all-gather (ZeRO++ qwZ and mixed-precision FSDP): each rank encodes
 * its fp32 shard into a fixed-size payload, the payloads are all-gathered as bytes, and every rank
 * decodes all of them into the full unit. The fp32 master shard stays with its owner and is what
 * the optimizer updates; only the copy used for forward and backward is rounded, the same copy on
 * every rank (the owner decodes its own payload too).
 */
import { createParamBf16 } from './param-bf16.js';
import { createParamInt8 } from './param-int8.js';
import type { ParamCodec, ParamComm } from './param-format.js';

export { PARAM_COMMS, type ParamCodec, type ParamComm } from './param-format.js';

/** Gather bytes of a format over fp32's (the projection resizes gathers by it). */
export function paramCommRatio(kind: ParamComm): number {
  const c = createParamCodec(kind);
  const n = 1 << 16;
  return c ? c.payloadBytes(n) / (4 * n) : 1;
}

/** The codec for a parameter-communication option; fp32 has none (the gather moves floats). */
export function createParamCodec(kind: ParamComm): ParamCodec | undefined {
  switch (kind) {
    case 'fp32':
      return undefined;
    case 'bf16':
      return createParamBf16();
    case 'int8':
      return createParamInt8();
  }
}
