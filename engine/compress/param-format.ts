/** The formats of the parameter all-gather and what a codec for one does (param-codec.ts builds them). */
export const PARAM_COMMS = ['fp32', 'bf16', 'int8'] as const;
export type ParamComm = (typeof PARAM_COMMS)[number];

export interface ParamCodec {
  readonly id: ParamComm;
  /** Payload bytes for a shard of `n` values (the same on every rank: shards are equal). */
  payloadBytes(n: number): number;
  /** Writes the payload of `shard` into `out` (length payloadBytes(shard.length)). */
  encode(shard: Float32Array, out: Uint8Array): void;
  /** Decodes a payload of `out.length` values into `out`. */
  decodeInto(payload: Uint8Array, out: Float32Array): void;
}
