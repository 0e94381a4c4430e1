/**
 * Collectives for a world of one rank, in process: every reduction is the identity. Used to run
 * the trainer and the codecs without a comm worker (codec benchmarks, gradient checks).
 */
import type { Comm } from '../comm/comm-types.js';

export const soloComm = {
  rank: 0,
  world: 1,
  stats: { ops: 0, busyMs: 0 },
  allReduce: async <T>(x: T) => x,
  reduceScatter: async <T extends Float32Array>(x: T) => x.slice() as T,
  allGather: async <T extends Float32Array>(x: T) => x.slice() as T,
  allToAllV: async (parts: Uint8Array[]) => parts,
  allGatherV: async (p: Uint8Array) => [p],
  reduce: async <T>(x: T) => x,
  broadcast: async <T>(x: T) => x,
  barrier: async () => undefined,
  recycle: () => undefined,
} as unknown as Comm;
