import { Collectives } from '../../engine/comm/collectives.js';
import { bytesOf, dtypeOf, viewAs, type CommArray, type DType } from '../../engine/comm/dtype.js';
import { Topology } from '../../engine/comm/emulation.js';
import { createLocalMesh } from '../../engine/comm/local-mesh.js';
import type { Comm } from '../../engine/comm/comm-types.js';

/**
 * In-process Comm objects for `world` ranks, with CommClient's semantics: allReduce in place, and
 * operations of one rank run one after another in issue order (as the comm worker runs them).
 */
export function localComms(world: number): Comm[] {
  const topo = new Topology(world, 1);
  return createLocalMesh(world).map((t) => {
    const c = new Collectives(t, topo);
    let queue: Promise<unknown> = Promise.resolve();
    const serial = <R>(f: () => Promise<R>): Promise<R> => {
      const next = queue.then(f);
      queue = next.catch(() => undefined);
      return next;
    };
    const copy = (a: CommArray): Uint8Array => new Uint8Array(bytesOf(a));
    const as = <T extends CommArray>(like: T, b: Uint8Array, dtype?: DType): T =>
      viewAs(dtype ?? dtypeOf(like), new Uint8Array(b)) as T;
    return {
      rank: t.rank,
      world,
      stats: { ops: 0, busyMs: 0 },
      async allReduce<T extends CommArray>(
        data: T,
        o: { op?: 'sum' | 'max'; ranks?: number[]; dtype?: DType } = {},
      ) {
        const out = await c.allReduce(
          copy(data),
          o.dtype ?? dtypeOf(data),
          o.op ?? 'sum',
          'ring',
          o.ranks,
        );
        bytesOf(data).set(out);
        return data;
      },
      async reduceScatter<T extends CommArray>(
        data: T,
        o: { ranks?: number[]; dtype?: DType } = {},
      ) {
        return as(
          data,
          await c.reduceScatter(copy(data), o.dtype ?? dtypeOf(data), 'sum', o.ranks),
          o.dtype,
        );
      },
      async allGather<T extends CommArray>(chunk: T, total: number, ranks?: number[]) {
        const input = copy(chunk);
        return as(chunk, await serial(() => c.allGather(input, dtypeOf(chunk), total, ranks)));
      },
      allToAllV: (parts: Uint8Array[], ranks?: number[]) => serial(() => c.allToAllV(parts, ranks)),
      async reduce<T extends CommArray>(data: T, root: number, o: { ranks?: number[] } = {}) {
        const input = copy(data);
        const out = await serial(() => c.reduce(input, dtypeOf(data), 'sum', root, o.ranks));
        return out ? as(data, out) : null;
      },
      allGatherV: (p: Uint8Array, ranks?: number[]) => serial(() => c.allGatherV(p, ranks)),
      // Point-to-point, beside the collective queue (as in the comm worker).
      send: (data: CommArray, peer: number, channel = 0) => c.sendTo(peer, channel, copy(data)),
      recv: (peer: number, channel = 0) => c.recvFrom(peer, channel),
      recycle: () => undefined,
    } as unknown as Comm;
  });
}
