/**
 * A minimal WebAssembly binary writer: just enough to emit the codec kernels in simd-kernels.ts
 * without an assembler toolchain. A module here is one exported memory plus exported functions
 * whose parameters and locals are numbers or v128 and which return nothing.
 *
 * Instructions are written as byte arrays; `op` holds the opcodes the kernels use (core opcodes
 * are one byte, SIMD ones are 0xfd followed by a LEB128 index).
 */

export type WasmType = 'i32' | 'f32' | 'f64' | 'v128';
const TYPE_CODE: Record<WasmType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  n |= 0;
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const simd = (code: number): number[] => [0xfd, ...uleb(code)];
/** Memory access immediate: log2 alignment, then the constant offset. */
const memarg = (align: number, offset: number): number[] => [...uleb(align), ...uleb(offset)];

export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  else: [0x05],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32: (value: number) => [0x41, ...sleb(value)],
  f32: (value: number) => [0x43, ...new Uint8Array(new Float32Array([value]).buffer)],
  f64: (value: number) => [0x44, ...new Uint8Array(new Float64Array([value]).buffer)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32LtU: [0x49],
  i32GtU: [0x4b],
  i32Mul: [0x6c],
  i32ShrU: [0x76],
  i32GeU: [0x4f],
  i32Store: (offset: number) => [0x36, ...memarg(2, offset)],
  f32Store: (offset: number) => [0x38, ...memarg(2, offset)],
  f32ReinterpretI32: [0xbe],
  f32Gt: [0x5e],
  f32Max: [0x97],
  f64Div: [0xa3],
  f64PromoteF32: [0xbb],
  v128Load: (offset: number) => [...simd(0x00), ...memarg(4, offset)],
  v128Store: (offset: number) => [...simd(0x0b), ...memarg(4, offset)],
  /** A v128 constant of four equal 32-bit lanes. */
  i32x4Const: (lane: number) => [
    ...simd(0x0c),
    ...new Uint8Array(new Uint32Array([lane, lane, lane, lane]).buffer),
  ],
  /** A v128 constant of two equal f64 lanes. */
  f64x2Const: (lane: number) => [
    ...simd(0x0c),
    ...new Uint8Array(new Float64Array([lane, lane]).buffer),
  ],
  /** Byte shuffle of two vectors: lanes 0-15 pick from the first, 16-31 from the second. */
  i8x16Shuffle: (lanes: number[]) => [...simd(0x0d), ...lanes],
  i32x4ExtractLane: (lane: number) => [...simd(0x1b), lane],
  f32x4ExtractLane: (lane: number) => [...simd(0x1f), lane],
  f64x2Splat: simd(0x14),
  i32x4LtS: simd(0x39),
  i32x4GtS: simd(0x3b),
  v128And: simd(0x4e),
  v128Or: simd(0x50),
  v128Xor: simd(0x51),
  /** bitselect(a, b, mask): bits of a where mask is set, of b elsewhere. */
  v128Bitselect: simd(0x52),
  f64x2PromoteLowF32x4: simd(0x5f),
  i8x16NarrowI16x8S: simd(0x65),
  i8x16NarrowI16x8U: simd(0x66),
  f64x2Trunc: simd(0x7a),
  i16x8NarrowI32x4S: simd(0x85),
  i16x8NarrowI32x4U: simd(0x86),
  i32x4ShrU: simd(0xad),
  i32x4Add: simd(0xae),
  i32x4Sub: simd(0xb1),
  i32x4MaxS: simd(0xb8),
  f32x4Abs: simd(0xe0),
  f32x4Add: simd(0xe4),
  f32x4Max: simd(0xe9),
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
  i32x4TruncSatF64x2SZero: simd(0xfc),
};

/** for (; i < end; i += step) body, with i and end i32 locals. */
export function loopBelow(i: number, end: number, step: number, body: number[][]): number[][] {
  return [
    op.block,
    op.loop,
    op.get(i),
    op.get(end),
    op.i32GeU,
    op.brIf(1),
    ...body,
    op.get(i),
    op.i32(step),
    op.i32Add,
    op.set(i),
    op.br(0),
    op.end,
    op.end,
  ];
}

export interface WasmFunction {
  name: string;
  params: WasmType[];
  /** Extra locals, numbered after the parameters. */
  locals: WasmType[];
  body: number[][];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
}

/** The binary of a module exporting `memory` (`pages` of 64 KiB) and the functions. */
export function assemble(pages: number, functions: WasmFunction[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...vector(f.params.map((t) => [TYPE_CODE[t]])), 0]);
  const bodies = functions.map((f) => {
    const locals = vector(f.locals.map((t) => [1, TYPE_CODE[t]]));
    const code = [...locals, ...f.body.flat(), ...op.end];
    return [...uleb(code.length), ...code];
  });
  const exports = [
    [...name('memory'), 0x02, 0],
    ...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]),
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(types)),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(5, vector([[0x00, ...uleb(pages)]])),
    ...section(7, vector(exports)),
    ...section(10, vector(bodies)),
  ]);
}
