/**
 * Element types and reduction operators understood by the collectives.
 *
 * Buffers cross the wire as bytes; these helpers give typed views over them and implement
 * `acc <- acc (op) src` element-wise. Integer sums wrap in two's complement (as NCCL's do), so
 * they are exact and independent of reduction order.
 */
import { bf16BitsToF32, f32ToBf16Bits } from './bf16.js';
import { f16Table, f32ToF16Bits } from './f16.js';
import { sumF32Simd } from './simd-sum.js';

export const DTYPES = ['f32', 'f16', 'bf16', 'i8', 'u8', 'i32'] as const;
export type DType = (typeof DTYPES)[number];

export const REDUCE_OPS = ['sum', 'max', 'bor'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i8: 1, u8: 1, i32: 4 };

export type TypedArrayOf<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f16' | 'bf16'
    ? Uint16Array
    : D extends 'i8'
      ? Int8Array
      : D extends 'u8'
        ? Uint8Array
        : Int32Array;

export type CommArray = Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array;

const CTORS = {
  f32: Float32Array,
  f16: Uint16Array,
  bf16: Uint16Array,
  i8: Int8Array,
  u8: Uint8Array,
  i32: Int32Array,
} as const;

export function isIntegerDType(dtype: DType): boolean {
  return dtype === 'i8' || dtype === 'u8' || dtype === 'i32';
}

/** Throws a clear error when an op is meaningless for a dtype (bitwise OR on floats). */
export function checkOpSupported(dtype: DType, op: ReduceOp): void {
  if (!DTYPES.includes(dtype))
    throw new Error(`unknown dtype "${dtype}"; use one of ${DTYPES.join(', ')}`);
  if (!REDUCE_OPS.includes(op))
    throw new Error(`unknown reduce op "${op}"; use one of ${REDUCE_OPS.join(', ')}`);
  if (op === 'bor' && !isIntegerDType(dtype)) {
    throw new Error(`reduce op "bor" needs an integer dtype (i8, u8, i32), got ${dtype}`);
  }
}

/** The dtype a typed array carries (Uint16Array is read as f16 bits; say bf16 explicitly). */
export function dtypeOf(a: CommArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Uint16Array) return 'f16';
  if (a instanceof Int8Array) return 'i8';
  if (a instanceof Int32Array) return 'i32';
  return 'u8';
}

/**
 * A typed view over `bytes`. Views need element alignment; bytes that arrived at an odd offset in
 * a socket chunk are copied once into an aligned buffer.
 */
export function viewAs<D extends DType>(dtype: D, bytes: Uint8Array): TypedArrayOf<D> {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new Error(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  let src = bytes;
  if (bytes.byteOffset % size !== 0) src = new Uint8Array(bytes);
  return new CTORS[dtype](
    src.buffer as ArrayBuffer,
    src.byteOffset,
    src.byteLength / size,
  ) as TypedArrayOf<D>;
}

export function bytesOf(a: CommArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function allocArray<D extends DType>(dtype: D, length: number): TypedArrayOf<D> {
  return new CTORS[dtype](length) as TypedArrayOf<D>;
}

/** `acc[i] <- acc[i] (op) src[i]` for byte buffers of equal length holding `dtype` elements. */
export function reduceInto(dtype: DType, op: ReduceOp, acc: Uint8Array, src: Uint8Array): void {
  if (acc.byteLength !== src.byteLength) {
    throw new Error(`reduce length mismatch: ${acc.byteLength} vs ${src.byteLength} bytes`);
  }
  if (acc.byteLength === 0) return;
  const a = viewAs(dtype, acc);
  const b = viewAs(dtype, src);
  if (a.buffer !== acc.buffer || a.byteOffset !== acc.byteOffset) {
    // acc was misaligned and got copied: reduce into the copy, then write it back.
    reduceTyped(dtype, op, a, b);
    acc.set(bytesOf(a));
    return;
  }
  reduceTyped(dtype, op, a, b);
}

function reduceTyped(dtype: DType, op: ReduceOp, a: CommArray, b: CommArray): void {
  const n = a.length;
  if (dtype === 'f16') {
    const t = f16Table();
    const x = a as Uint16Array;
    const y = b as Uint16Array;
    if (op === 'sum') for (let i = 0; i < n; i++) x[i] = f32ToF16Bits(t[x[i]] + t[y[i]]);
    else for (let i = 0; i < n; i++) x[i] = maxF16(t, x[i], y[i]);
    return;
  }
  if (dtype === 'bf16') {
    const x = a as Uint16Array;
    const y = b as Uint16Array;
    for (let i = 0; i < n; i++) {
      const fx = bf16BitsToF32(x[i]);
      const fy = bf16BitsToF32(y[i]);
      if (op === 'sum') x[i] = f32ToBf16Bits(fx + fy);
      else if (fy > fx || fy !== fy) x[i] = y[i];
    }
    return;
  }
  // One monomorphic loop per array type: a loop over the CommArray union is several times slower.
  if (op === 'sum') {
    if (dtype === 'f32') sumF32(a as Float32Array, b as Float32Array);
    else if (dtype === 'i32') sumI32(a as Int32Array, b as Int32Array);
    else if (dtype === 'i8') sumI8(a as Int8Array, b as Int8Array);
    else sumU8(a as Uint8Array, b as Uint8Array);
  } else if (op === 'max') {
    if (dtype === 'f32') maxF32(a as Float32Array, b as Float32Array);
    else if (dtype === 'i32') maxI32(a as Int32Array, b as Int32Array);
    else if (dtype === 'i8') maxI8(a as Int8Array, b as Int8Array);
    else maxU8(a as Uint8Array, b as Uint8Array);
  } else {
    if (dtype === 'i32') orI32(a as Int32Array, b as Int32Array);
    else if (dtype === 'i8') orI8(a as Int8Array, b as Int8Array);
    else orU8(a as Uint8Array, b as Uint8Array);
  }
}

// Float32Array rounds on store; Int8Array/Uint8Array wrap on store; i32 wraps via |0.
function sumF32(a: Float32Array, b: Float32Array): void {
  for (let i = sumF32Simd(a, b); i < a.length; i++) a[i] += b[i];
}
function sumI32(a: Int32Array, b: Int32Array): void {
  for (let i = 0; i < a.length; i++) a[i] = (a[i] + b[i]) | 0;
}
function sumI8(a: Int8Array, b: Int8Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}
function sumU8(a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}
// NaN in b propagates (b !== b), matching the f16/bf16 paths.
function maxF32(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) if (b[i] > a[i] || b[i] !== b[i]) a[i] = b[i];
}
function maxI32(a: Int32Array, b: Int32Array): void {
  for (let i = 0; i < a.length; i++) if (b[i] > a[i]) a[i] = b[i];
}
function maxI8(a: Int8Array, b: Int8Array): void {
  for (let i = 0; i < a.length; i++) if (b[i] > a[i]) a[i] = b[i];
}
function maxU8(a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < a.length; i++) if (b[i] > a[i]) a[i] = b[i];
}
function orI32(a: Int32Array, b: Int32Array): void {
  for (let i = 0; i < a.length; i++) a[i] |= b[i];
}
function orI8(a: Int8Array, b: Int8Array): void {
  for (let i = 0; i < a.length; i++) a[i] |= b[i];
}
function orU8(a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < a.length; i++) a[i] |= b[i];
}

/** max that propagates NaN, matching the f32 path. */
function maxF16(t: Float32Array, x: number, y: number): number {
  const fy = t[y];
  return fy > t[x] || fy !== fy ? y : x;
}
