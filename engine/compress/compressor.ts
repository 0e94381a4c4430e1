/**
 * The compressor interface (after GRACE): `encode` turns a float vector into the payload that
 * travels, `decode` turns a payload back into floats, and summable formats `aggregate` payloads
 * without decoding. Each method declares the collective pattern it needs, because that decides
 * whether it can make a sharded (FSDP) reduction cheaper at all:
 *
 * - 'reduce-scatter': summable payloads of `wireDtype`; the ring adds them hop by hop.
 * - 'all-to-all': every rank encodes the chunk each owner will hold; owners decode and sum the
 *   payloads they receive (what ZeRO++'s qgZ does). Received bytes stay O(size), not O(world).
 * - 'rounds': the method runs its own rounds (PowerSGD's two all-reduces, random-k's shared
 *   indices, agreed-scale quantisation) through the collectives it is handed.
 *
 * Compressors never import the collectives, and error feedback is applied outside them
 * (engine/compress/error-feedback.ts), in one place for every method.
 */
import type { DType } from '../comm/dtype.js';
import type { ParamClass } from '../model/gpt.js';
import type { Comm } from '../comm/comm-types.js';

export type CollectivePattern = 'reduce-scatter' | 'all-to-all' | 'rounds';

export interface CodecContext {
  /** Stable name of the tensor being compressed (unit and owner chunk), for per-tensor state. */
  key: string;
  step: number;
  rank: number;
  /** Seed shared by every rank for this tensor and step (agreement where a method needs it). */
  sharedSeed: number;
  /** Seed private to this rank (stochastic rounding). */
  localSeed: number;
  /**
   * Memory for the payload that the caller keeps for this tensor and hands out again next step
   * (the payload must stay intact until the caller is done with it, i.e. until the next encode
   * with the same key). Without it codecs allocate; fresh multi-MiB buffers cost a page fault per
   * 4 KiB, which on the machines measured here cost more than the encoding itself.
   */
  scratch?: (bytes: number) => Uint8Array;
}

/** A payload buffer of `bytes`: the caller's reusable memory when it offers some. */
export function payloadBuffer(ctx: CodecContext | undefined, bytes: number): Uint8Array {
  return ctx?.scratch?.(bytes) ?? new Uint8Array(bytes);
}

/** Reusable payload memory per tensor key (see CodecContext.scratch). */
export class ScratchPool {
  private readonly buffers = new Map<string, ArrayBuffer>();

  /** The scratch function for one tensor: the same memory every call, grown when needed. */
  forKey(key: string): (bytes: number) => Uint8Array {
    return (bytes) => {
      let b = this.buffers.get(key);
      if (!b || b.byteLength < bytes) {
        b = new ArrayBuffer(bytes);
        this.buffers.set(key, b);
      }
      return new Uint8Array(b, 0, bytes);
    };
  }
}

/** A parameter segment inside the vector being compressed (PowerSGD needs matrix shapes). */
export interface Segment {
  offset: number;
  shape: number[];
  cls?: ParamClass;
}

export interface RoundsIo {
  comm: Comm;
  /** Ranks reducing together, and this rank's position among them. */
  group: number[];
  index: number;
  /** Element offsets of every owner's chunk (length group.length + 1). */
  chunks: number[];
  segments: Segment[];
  ctx: CodecContext;
}

export interface RoundsResult {
  /** Sum over the group of this rank's chunk (chunks[index]..chunks[index+1]). */
  chunk: Float32Array;
  /** What this rank's contribution decodes to (full length), for error feedback. */
  sent: Float32Array;
  wireBytes: number;
  /** Method-specific per-step figures (e.g. the sketch's peeling success rate). */
  stats?: Record<string, number>;
  /** Time spent compressing and decompressing, when the method can separate it from waiting. */
  encodeMs?: number;
  decodeMs?: number;
}

export interface Compressor {
  readonly id: string;
  readonly pattern: CollectivePattern;
  /** False only for formats that round like fp16/bf16 and keep everything else. */
  readonly sparse: boolean;
  /** Wire element type of 'reduce-scatter' methods. */
  readonly wireDtype?: DType;
  encode(x: Float32Array, ctx: CodecContext): Uint8Array;
  decode(payload: Uint8Array, n: number, ctx: CodecContext): Float32Array;
  /** Summable formats: the payload of the sum, from the payloads (no decoding). */
  aggregate?(payloads: Uint8Array[], n: number): Uint8Array;
  /** 'rounds' methods: compress, communicate and decode in one go. */
  communicate?(p: Float32Array, io: RoundsIo): Promise<RoundsResult>;
}

/**
 * encode/decode of a 'rounds' method whose payloads only exist inside its collective rounds
 * (PowerSGD, LHC, TAGC): there is no standalone payload to hand out.
 */
export function roundsOnlyCodec(id: string): Pick<Compressor, 'encode' | 'decode'> {
  const fail = (): never => {
    throw new Error(
      `${id} compresses whole units through its collective rounds; use communicate()`,
    );
  };
  return { encode: fail, decode: fail };
}

/**
 * The standard shape of a 'rounds' method's rounds, for the projection: 'all-to-all' (each
 * owner's part goes straight to it) or 'hierarchical-all-to-all' (inside each node, then across
 * nodes between ranks at the same position).
 */
export type RoundsShape = 'all-to-all' | 'hierarchical-all-to-all';
