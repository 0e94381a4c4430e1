/** Loading a WebAssembly module assembled in memory (util/wasm-asm.ts), shared by every kernel. */

/** The part of the WebAssembly API used here (the engine compiles without the DOM typings). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

export interface WasmModule {
  exports: Record<string, unknown>;
  /** The module's exported memory, which callers view as typed arrays. */
  memory: ArrayBuffer;
}

/**
 * Instantiates `bytes`, or returns null where the runtime has no WebAssembly or rejects the
 * module (no SIMD): callers then use their JavaScript loops.
 */
export function instantiateWasm(bytes: Uint8Array): WasmModule | null {
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm || !wasm.validate(bytes)) return null;
  const { exports } = new wasm.Instance(new wasm.Module(bytes));
  return { exports, memory: (exports.memory as { buffer: ArrayBuffer }).buffer };
}
