/**
 * WebAssembly SIMD kernels for the two hot encoders, fp16 and int8 blockwise, bit-exact with
 * their JavaScript versions (engine/comm/f16.ts f32ArrayToF16, blockwise-int.ts quantizeBlocks).
 * V8 does not vectorise JavaScript loops, so four lanes per instruction is where the speed is.
 *
 * Inputs are copied into the module's memory in chunks that stay in the L2 cache (64 KiB of f32),
 * the kernel runs on the chunk, and its output is copied out: the input is read from main memory
 * once, as a plain loop would.
 *
 * Without WebAssembly SIMD (or with `setSimdKernels(false)`), callers use the JavaScript loops.
 */
import { assemble, loopBelow, op, type WasmFunction, type WasmType } from '../../util/wasm-asm.js';
import { instantiateWasm } from '../../util/wasm-load.js';

/** Byte offsets in the module's memory: input chunk, output chunk, per-block max|x|. */
const IN = 0;
const OUT = 1 << 18;
const ABS = OUT + (1 << 17);
/** The largest input the memory holds at once: 65536 f32 (the largest int8 block). */
const CAPACITY = 1 << 16;
/** Elements per chunk when the caller is free to choose: 64 KiB in, 32 KiB (f16) out. */
const CHUNK = 1 << 14;

/**
 * Vector constants held in locals from `first` on, set once before the loop (a v128.const inside
 * the loop is materialised again on every iteration).
 */
function constantPool(lanes: number[], first: number) {
  return {
    locals: lanes.map((): WasmType => 'v128'),
    init: lanes.flatMap((v, i) => [op.i32x4Const(v), op.set(first + i)]),
    get: (v: number): number[] => {
      const i = lanes.indexOf(v);
      if (i < 0) throw new Error(`constant ${v} is not in the pool`);
      return op.get(first + i);
    },
  };
}

const F16_CONSTANTS = [
  0x7fffffff, 0x3f000000, 0xc8000fff, 1, 0x38800000, 0x7e00, 0x7c00, 0x7f800000, 0x47800000, 0x8000,
];

/**
 * Rounds one i32x4 of f32 bits (on the stack) to f16 bits in i32 lanes, as f32ArrayToF16 does:
 * below 2^-14 the FPU rounds |x| + 0.5; in the normal range the exponent is rebiased and the
 * rounding increment added to the bit pattern; above it Inf, or a quiet NaN.
 */
function halfOfLanes(b: number, a: number, c: (v: number) => number[]): number[][] {
  return [
    op.set(b),
    op.get(b),
    c(0x7fffffff),
    op.v128And,
    op.set(a),
    // Subnormal or zero: bits(|x| + 0.5) - bits(0.5).
    op.get(a),
    c(0x3f000000),
    op.f32x4Add,
    c(0x3f000000),
    op.i32x4Sub,
    // Normal: (a + rebias + just under half an ulp + the tie-to-even bit) >>> 13.
    op.get(a),
    c(0xc8000fff),
    op.i32x4Add,
    op.get(a),
    op.i32(13),
    op.i32x4ShrU,
    c(1),
    op.v128And,
    op.i32x4Add,
    op.i32(13),
    op.i32x4ShrU,
    op.get(a),
    c(0x38800000),
    op.i32x4LtS,
    op.v128Bitselect,
    // Overflow or Inf: 0x7c00; NaN: 0x7e00.
    c(0x7e00),
    c(0x7c00),
    op.get(a),
    c(0x7f800000),
    op.i32x4GtS,
    op.v128Bitselect,
    op.get(a),
    c(0x47800000),
    op.i32x4LtS,
    op.v128Bitselect,
    // Sign.
    op.get(b),
    op.i32(16),
    op.i32x4ShrU,
    c(0x8000),
    op.v128And,
    op.v128Or,
  ];
}

/** f16(n): n f32 at IN (n a multiple of 8) to n f16 bit patterns at OUT. */
const f16Kernel: WasmFunction = {
  name: 'f16',
  params: ['i32'],
  locals: ['i32', 'i32', 'v128', 'v128', ...constantPool(F16_CONSTANTS, 5).locals],
  body: (() => {
    const [n, p, end, b, a] = [0, 1, 2, 3, 4];
    const pool = constantPool(F16_CONSTANTS, 5);
    return [
      ...pool.init,
      op.get(n),
      op.i32(4),
      op.i32Mul,
      op.set(end),
      ...loopBelow(p, end, 32, [
        op.get(p),
        op.i32(1),
        op.i32ShrU,
        op.get(p),
        op.v128Load(IN),
        ...halfOfLanes(b, a, pool.get),
        op.get(p),
        op.v128Load(IN + 16),
        ...halfOfLanes(b, a, pool.get),
        op.i16x8NarrowI32x4U,
        op.v128Store(OUT),
      ]),
    ];
  })(),
};

/** Locals of the q8 kernel, after its parameters nb, block, L. */
const Q8 = {
  nb: 0,
  block: 1,
  L: 2,
  b: 3,
  start: 4,
  end: 5,
  q: 6,
  bits: 7,
  acc: 8,
  mul: 9,
  v: 10,
  bias: 11,
  absMask: 12,
  magic: 13,
  flip: 14,
};
const Q8_LOCALS: WasmType[] = [
  'i32',
  'i32',
  'i32',
  'i32',
  'i32',
  ...Array<WasmType>(7).fill('v128'),
];

/**
 * t = x * mul + 128.5 for the two f32 lanes of v (`high`: lanes 2 and 3), in f64 as the JS codec
 * computes it (L / max is a double), then trunc(t) + 2^52: for 0 <= trunc(t) < 2^32 the low word
 * of that double is trunc(t) as an integer (a NaN lane, from Inf * 0, leaves 0 there, as `NaN | 0`
 * does). Cheaper than i32x4.trunc_sat_f64x2_s_zero and the shuffle that would merge its halves.
 */
function shiftedCodes(high: boolean): number[][] {
  return [
    op.get(Q8.v),
    ...(high
      ? [
          op.get(Q8.v),
          op.i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]),
        ]
      : []),
    op.f64x2PromoteLowF32x4,
    op.get(Q8.mul),
    op.f64x2Mul,
    op.get(Q8.bias),
    op.f64x2Add,
    op.f64x2Trunc,
    op.get(Q8.magic),
    op.f64x2Add,
  ];
}

/** Four codes + 128 (0..255) in i32 lanes, from the f32x4 at q + offset. */
function codesOfLanes(offset: number): number[][] {
  return [
    op.get(Q8.q),
    op.v128Load(IN + offset),
    op.set(Q8.v),
    ...shiftedCodes(false),
    ...shiftedCodes(true),
    // The low words of the four doubles.
    op.i8x16Shuffle([0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27]),
  ];
}

/** for (q = start; q < end; q += step) body */
function overBlock(step: number, body: number[][]): number[][] {
  return [op.get(Q8.start), op.set(Q8.q), ...loopBelow(Q8.q, Q8.end, step, body)];
}

/** Horizontal max of the i32x4 in acc, into bits. */
function maxOfLanes(): number[][] {
  const fold = (lanes: number[]): number[][] => [
    op.get(Q8.acc),
    op.get(Q8.acc),
    op.get(Q8.acc),
    op.i8x16Shuffle(lanes),
    op.i32x4MaxS,
    op.set(Q8.acc),
  ];
  return [
    ...fold([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]),
    ...fold([4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7]),
    op.get(Q8.acc),
    op.i32x4ExtractLane(0),
    op.set(Q8.bits),
  ];
}

/**
 * q8(nb, block, L): nb blocks of `block` f32 at IN (block a multiple of 16) to max|x| per block
 * at ABS (f32) and codes round(x * L / max) at OUT (int8, |code| <= L <= 127); a block whose max
 * is not positive (all zero, or NaN) gets zero codes, as in the JS codec.
 *
 * max|x| is an integer max of the bit patterns with the sign cleared: for non-negative floats the
 * order is the same, and any NaN is above Inf, so a NaN in the block makes the max NaN (stored as
 * the quiet NaN that Math.max gives), like Math.max.
 */
const q8Kernel: WasmFunction = {
  name: 'q8',
  params: ['i32', 'i32', 'f64'],
  locals: Q8_LOCALS,
  body: [
    op.f64x2Const(128.5),
    op.set(Q8.bias),
    op.i32x4Const(0x7fffffff),
    op.set(Q8.absMask),
    op.f64x2Const(2 ** 52),
    op.set(Q8.magic),
    op.i32x4Const(0x80808080),
    op.set(Q8.flip),
    ...loopBelow(Q8.b, Q8.nb, 1, [
      op.get(Q8.b),
      op.get(Q8.block),
      op.i32Mul,
      op.i32(4),
      op.i32Mul,
      op.set(Q8.start),
      op.get(Q8.start),
      op.get(Q8.block),
      op.i32(4),
      op.i32Mul,
      op.i32Add,
      op.set(Q8.end),
      op.i32x4Const(0),
      op.set(Q8.acc),
      ...overBlock(16, [
        op.get(Q8.acc),
        op.get(Q8.q),
        op.v128Load(IN),
        op.get(Q8.absMask),
        op.v128And,
        op.i32x4MaxS,
        op.set(Q8.acc),
      ]),
      ...maxOfLanes(),
      op.get(Q8.bits),
      op.i32(0x7f800000),
      op.i32GtU,
      op.if,
      op.i32(0x7fc00000),
      op.set(Q8.bits),
      op.end,
      op.get(Q8.b),
      op.i32(4),
      op.i32Mul,
      op.get(Q8.bits),
      op.i32Store(ABS),
      // 0 < max <= Inf (bits - 1 < 0x7f800000 unsigned).
      op.get(Q8.bits),
      op.i32(1),
      op.i32Sub,
      op.i32(0x7f800000),
      op.i32LtU,
      op.if,
      op.get(Q8.L),
      op.get(Q8.bits),
      op.f32ReinterpretI32,
      op.f64PromoteF32,
      op.f64Div,
      op.f64x2Splat,
      op.set(Q8.mul),
      ...overBlock(64, [
        op.get(Q8.q),
        op.i32(2),
        op.i32ShrU,
        ...codesOfLanes(0),
        ...codesOfLanes(16),
        op.i16x8NarrowI32x4S,
        ...codesOfLanes(32),
        ...codesOfLanes(48),
        op.i16x8NarrowI32x4S,
        op.i8x16NarrowI16x8U,
        // code + 128 as a byte, minus 128: flip the top bit.
        op.get(Q8.flip),
        op.v128Xor,
        op.v128Store(OUT),
      ]),
      op.else,
      ...overBlock(64, [op.get(Q8.q), op.i32(2), op.i32ShrU, op.i32x4Const(0), op.v128Store(OUT)]),
      op.end,
    ]),
  ],
};

interface Kernels {
  f16(n: number): void;
  q8(nb: number, block: number, L: number): void;
  f32: Float32Array;
  u16: Uint16Array;
  i8: Int8Array;
  abs: Float32Array;
}

/** The module's bytes (exported for the tests that check it validates). */
export function kernelModule(): Uint8Array {
  return assemble(8, [f16Kernel, q8Kernel]);
}

let loaded: Kernels | null | undefined;
let enabled = true;

function instantiate(): Kernels | null {
  const module = instantiateWasm(kernelModule());
  if (!module) return null;
  const { exports, memory: buffer } = module;
  return {
    f16: exports.f16 as Kernels['f16'],
    q8: exports.q8 as Kernels['q8'],
    f32: new Float32Array(buffer, IN, CAPACITY),
    u16: new Uint16Array(buffer, OUT, CAPACITY),
    i8: new Int8Array(buffer, OUT, CAPACITY),
    abs: new Float32Array(buffer, ABS, CAPACITY / 16),
  };
}

function kernels(): Kernels | null {
  if (!enabled) return null;
  if (loaded === undefined) loaded = instantiate();
  return loaded;
}

/** Whether this runtime has WebAssembly SIMD (the kernels validate and load). */
export function simdAvailable(): boolean {
  if (loaded === undefined) loaded = instantiate();
  return loaded !== null;
}

/** Turns the kernels off (true: back on where available), for comparisons with the JS loops. */
export function setSimdKernels(on: boolean): void {
  enabled = on;
}

/**
 * f16 bits of src[0, done) into dst, returning `done`: a multiple of 8 (0 without SIMD); the
 * caller converts the tail.
 */
export function f32ToF16Simd(src: Float32Array, dst: Uint16Array): number {
  const k = kernels();
  if (!k) return 0;
  const done = src.length & ~7;
  for (let off = 0; off < done; off += CHUNK) {
    const n = Math.min(CHUNK, done - off);
    k.f32.set(src.subarray(off, off + n));
    k.f16(n);
    dst.set(k.u16.subarray(0, n), off);
  }
  return done;
}

/**
 * max|x| per block into absmax and int8 codes round(x * L / max) into codes, for the first full
 * blocks of x; returns how many blocks it did (0 without SIMD or when block is not a multiple of
 * 16). The caller finishes the rest.
 */
export function quantizeBlocksSimd(
  x: Float32Array,
  block: number,
  L: number,
  absmax: Float32Array,
  codes: Int8Array,
): number {
  const k = kernels();
  if (!k || block % 16 !== 0 || block > CAPACITY) return 0;
  const full = Math.floor(x.length / block);
  const perChunk = Math.max(1, Math.floor(CHUNK / block));
  for (let b0 = 0; b0 < full; b0 += perChunk) {
    const nb = Math.min(perChunk, full - b0);
    const n = nb * block;
    k.f32.set(x.subarray(b0 * block, b0 * block + n));
    k.q8(nb, block, L);
    codes.set(k.i8.subarray(0, n), b0 * block);
    absmax.set(k.abs.subarray(0, nb), b0);
  }
  return full;
}
