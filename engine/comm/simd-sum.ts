/**
 * f32 sum of two arrays with WebAssembly SIMD (four lanes per add): the reduction of every
 * reduce-scatter step. V8 does not vectorise the JavaScript loop, which costs more CPU per byte
 * than the loopback copy that brought the bytes in. Bit-exact with that loop: a float sum done in
 * double and rounded to float is the correctly rounded float sum, which is what f32x4.add gives.
 *
 * Both operands are copied into the module's memory in chunks that stay in cache, summed there,
 * and the sum copied out (WebAssembly cannot address the caller's arrays).
 */
import { assemble, loopBelow, op } from '../util/wasm-asm.js';
import { instantiateWasm } from '../util/wasm-load.js';

/** Elements per chunk: 64 KiB of each operand. */
const CHUNK = 1 << 14;
/** Byte offset of the second operand in the module's memory (the first starts at 0). */
const B = CHUNK * 4;

/** add(n): a[0..n) += b[0..n) for n a multiple of 4, in the module's memory. */
function moduleBytes(): Uint8Array {
  const [n, i, end] = [0, 1, 2];
  return assemble(2, [
    {
      name: 'add',
      params: ['i32'],
      locals: ['i32', 'i32'],
      body: [
        op.get(n),
        op.i32(4),
        op.i32Mul,
        op.set(end),
        ...loopBelow(i, end, 16, [
          op.get(i),
          op.get(i),
          op.v128Load(0),
          op.get(i),
          op.v128Load(B),
          op.f32x4Add,
          op.v128Store(0),
        ]),
      ],
    },
  ]);
}

interface Kernel {
  add(n: number): void;
  a: Float32Array;
  b: Float32Array;
}

let kernel: Kernel | null | undefined;

function load(): Kernel | null {
  const loaded = instantiateWasm(moduleBytes());
  if (!loaded) return null;
  const { exports, memory: buffer } = loaded;
  return {
    add: exports.add as Kernel['add'],
    a: new Float32Array(buffer, 0, CHUNK),
    b: new Float32Array(buffer, B, CHUNK),
  };
}

/**
 * a[i] += b[i] for i in [0, done), returning `done`: a multiple of 4 (0 without WebAssembly SIMD);
 * the caller sums the rest.
 */
export function sumF32Simd(a: Float32Array, b: Float32Array): number {
  if (kernel === undefined) kernel = load();
  const k = kernel;
  if (!k) return 0;
  const done = a.length & ~3;
  for (let off = 0; off < done; off += CHUNK) {
    const n = Math.min(CHUNK, done - off);
    k.a.set(a.subarray(off, off + n));
    k.b.set(b.subarray(off, off + n));
    k.add(n);
    a.set(k.a.subarray(0, n), off);
  }
  return done;
}
