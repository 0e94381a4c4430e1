/**
 * Blockwise integer quantisation (ZeRO++ qgZ-like): per block of B values a scale max|x| / L
 * (L = 127 for int8, 7 for int4), codes round(x / scale).
 *
 * Two ways to reduce it:
 * - per-rank scales (default): every rank picks its own scales, so payloads cannot be added;
 *   owners decode each rank's chunk and sum (all-to-all).
 * - agreed scales: first all-reduce the per-block max (small), then every rank quantises with the
 *   same scales, so codes add exactly in int32 at the owner and are dequantised once:
 *   the aggregate of encodings is the encoding of the sum (up to each rank's rounding).
 */
import { bytesOf } from '../comm/dtype.js';
import {
  payloadBuffer,
  type CodecContext,
  type CollectivePattern,
  type Compressor,
  type RoundsIo,
  type RoundsResult,
} from './compressor.js';
import { Reader, blockCount, packCodes, packedBytes, unpackCodes } from './bits/bits.js';
import { quantizeBlocksSimd } from './kernels/simd-kernels.js';

export interface BlockwiseIntOptions {
  bits: 8 | 4;
  block: number;
  scale: 'per-rank' | 'agreed';
}

const levels = (bits: 8 | 4): number => (bits === 8 ? 127 : 7);

function encodeCodes(codes: Int8Array, bits: 8 | 4): Uint8Array {
  if (bits === 8) return new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength);
  const u = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) u[i] = codes[i] + 8; // offset binary in a nibble
  return packCodes(u, 4);
}

function decodeCodes(bytes: Uint8Array, n: number, bits: 8 | 4): Int8Array {
  if (bits === 8) return new Int8Array(bytes.buffer, bytes.byteOffset, n);
  const u = unpackCodes(bytes, n, 4);
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++) out[i] = u[i] - 8;
  return out;
}

/** max|x| per block, into `out` from block `from` on. */
function absMaxInto(x: Float32Array, block: number, out: Float32Array, from = 0): Float32Array {
  for (let b = from; b < out.length; b++) {
    let m = 0;
    const end = Math.min(x.length, (b + 1) * block);
    // Math.max/abs compile branch-free; a compare-and-branch mispredicts on gradient signs (4x slower).
    for (let i = b * block; i < end; i++) m = Math.max(m, Math.abs(x[i]));
    // One NaN pattern whatever sign the FPU's default NaN has (x86: negative), as the kernel does.
    out[b] = m === m ? m : NaN;
  }
  return out;
}

/** Per-rank scales travel with their codes (all-to-all); agreed scales take a round first. */
export const blockwisePattern = (scale: BlockwiseIntOptions['scale']): CollectivePattern =>
  scale === 'per-rank' ? 'all-to-all' : 'rounds';

/** max|x| per block. */
export function blockAbsMax(x: Float32Array, block: number): Float32Array {
  return absMaxInto(x, block, new Float32Array(blockCount(x.length, block)));
}

/**
 * codes = round(x * L / max) per block (one multiplier per block), from block `from` on; blocks
 * whose max is not positive get zero codes. |x * L / max| <= L <= 127, so adding 128.5 and
 * truncating rounds half up without Math.round (3x faster here) or clamping.
 */
function quantize(
  x: Float32Array,
  absmax: Float32Array,
  block: number,
  L: number,
  codes: Int8Array = new Int8Array(x.length),
  from = 0,
): Int8Array {
  for (let b = from; b < absmax.length; b++) {
    const m = absmax[b];
    const start = b * block;
    const end = Math.min(x.length, start + block);
    if (!(m > 0)) {
      codes.fill(0, start, end);
      continue;
    }
    const mul = L / m;
    for (let i = start; i < end; i++) codes[i] = ((x[i] * mul + 128.5) | 0) - 128;
  }
  return codes;
}

/**
 * Scales and codes of x with per-block scales (the payload of per-rank encoding): the full blocks
 * by the SIMD kernel where it runs, the rest by the loops above, with identical results.
 */
export function quantizeBlocks(
  x: Float32Array,
  block: number,
  L: number,
  codes: Int8Array = new Int8Array(x.length),
): { absmax: Float32Array; codes: Int8Array } {
  const absmax = new Float32Array(blockCount(x.length, block));
  const done = quantizeBlocksSimd(x, block, L, absmax, codes);
  absMaxInto(x, block, absmax, done);
  quantize(x, absmax, block, L, codes, done);
  return { absmax, codes };
}

export function createBlockwiseInt(id: string, o: BlockwiseIntOptions): Compressor {
  const L = levels(o.bits);
  const encode = (x: Float32Array, ctx?: CodecContext): Uint8Array => {
    // Layout: [max|x| per block, f32][codes]; int8 codes are written straight into the payload.
    const scaleBytes = blockCount(x.length, o.block) * 4;
    const out = payloadBuffer(ctx, scaleBytes + packedBytes(x.length, o.bits));
    const direct =
      o.bits === 8 ? new Int8Array(out.buffer, out.byteOffset + scaleBytes, x.length) : undefined;
    const { absmax, codes } = quantizeBlocks(x, o.block, L, direct);
    new Uint8Array(out.buffer, out.byteOffset, scaleBytes).set(bytesOf(absmax));
    if (!direct) out.set(encodeCodes(codes, o.bits), scaleBytes);
    return out;
  };
  const decode = (payload: Uint8Array, n: number): Float32Array => {
    const r = new Reader(payload);
    const absmax = r.f32(blockCount(n, o.block));
    const codes = decodeCodes(r.u8(packedBytes(n, o.bits)), n, o.bits);
    const out = new Float32Array(n);
    for (let b = 0; b < absmax.length; b++) {
      const step = absmax[b] / L;
      const end = Math.min(n, (b + 1) * o.block);
      for (let i = b * o.block; i < end; i++) out[i] = codes[i] * step;
    }
    return out;
  };

  if (o.scale === 'per-rank')
    return { id, pattern: blockwisePattern(o.scale), sparse: false, encode, decode };

  const communicate = async (p: Float32Array, io: RoundsIo): Promise<RoundsResult> => {
    const { comm, group, index, chunks } = io;
    const n = group.length;
    // Round 1: agree on scales (max over ranks of each block's max).
    const absmax = await comm.allReduce(blockAbsMax(p, o.block), { op: 'max', ranks: group });
    // Round 2: every rank quantises with the shared scales; owners add int codes exactly.
    const codes = quantize(p, absmax, o.block, L);
    const parts = Array.from({ length: n }, (_, j) =>
      encodeCodes(codes.subarray(chunks[j], chunks[j + 1]), o.bits),
    );
    const received = await comm.allToAllV(parts, group);
    const len = chunks[index + 1] - chunks[index];
    const acc = new Int32Array(len);
    for (const r of received) {
      const c = decodeCodes(r, len, o.bits);
      for (let i = 0; i < len; i++) acc[i] += c[i];
    }
    comm.recycle(received);
    const chunk = new Float32Array(len);
    for (let i = 0; i < len; i++)
      chunk[i] = (acc[i] * absmax[((chunks[index] + i) / o.block) | 0]) / L;
    const sent = new Float32Array(p.length);
    for (let i = 0; i < p.length; i++) sent[i] = (codes[i] * absmax[(i / o.block) | 0]) / L;
    const scaleBytes = (absmax.byteLength * (2 * (n - 1))) / n;
    const codeBytes = parts.reduce((a, part, j) => a + (j === index ? 0 : part.byteLength), 0);
    return { chunk, sent, wireBytes: scaleBytes + codeBytes };
  };

  return {
    id,
    pattern: blockwisePattern(o.scale),
    sparse: false,
    encode,
    decode,
    communicate,
  };
}
