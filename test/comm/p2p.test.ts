import { describe, expect, it } from 'vitest';
import { Collectives } from '../../engine/comm/collectives.js';
import { Topology } from '../../engine/comm/emulation.js';
import { createLocalMesh } from '../../engine/comm/local-mesh.js';

function groups(world: number): Collectives[] {
  const topo = new Topology(world, 1);
  return createLocalMesh(world).map((t) => new Collectives(t, topo));
}

const f32 = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);
const asF32 = (b: Uint8Array): number[] =>
  Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));

describe('point-to-point send / recv', () => {
  it('delivers messages per (peer, channel) in send order, any length', async () => {
    const [a, b] = groups(2);
    await Promise.all([
      a.sendTo(1, 0, f32([1, 2, 3])),
      a.sendTo(1, 7, f32([9])),
      a.sendTo(1, 0, f32([])),
      a.sendTo(1, 0, f32([4])),
    ]);
    // Receive channel 7 first: channels do not block each other.
    expect(asF32(await b.recvFrom(0, 7))).toEqual([9]);
    expect(asF32(await b.recvFrom(0, 0))).toEqual([1, 2, 3]);
    expect(asF32(await b.recvFrom(0, 0))).toEqual([]);
    expect(asF32(await b.recvFrom(0, 0))).toEqual([4]);
  });

  it('leaves the collective sequence alone: ranks with different p2p traffic still all-reduce', async () => {
    const cs = groups(3);
    // Rank 0 talks to rank 2 a few times, rank 1 sends nothing; then all three all-reduce.
    const ops = cs.map(async (c) => {
      if (c.rank === 0) for (let i = 0; i < 3; i++) await c.sendTo(2, 1, f32([i]));
      if (c.rank === 2)
        for (let i = 0; i < 3; i++) expect(asF32(await c.recvFrom(0, 1))).toEqual([i]);
      const sum = await c.allReduce(f32([c.rank + 1, 10]), 'f32', 'sum');
      return asF32(sum);
    });
    for (const r of await Promise.all(ops)) expect(r).toEqual([6, 30]);
  });

  it('a p2p message is never taken by a collective between the same ranks, and vice versa', async () => {
    const [a, b] = groups(2);
    const sent = a.sendTo(1, 0, f32([42]));
    const [x, y] = await Promise.all([
      a.allReduce(f32([1]), 'f32', 'sum'),
      b.allReduce(f32([2]), 'f32', 'sum'),
    ]);
    await sent;
    expect(asF32(x)).toEqual([3]);
    expect(asF32(y)).toEqual([3]);
    expect(asF32(await b.recvFrom(0, 0))).toEqual([42]);
  });

  it('rejects a peer outside the world, itself, or a bad channel, naming the value', () => {
    const [a] = groups(2);
    expect(() => a.sendTo(2, 0, f32([1]))).toThrow(/peer must be another rank in 0..1, got 2/);
    expect(() => a.recvFrom(0, 0)).toThrow(/got 0 \(this is rank 0\)/);
    expect(() => a.sendTo(1, -1, f32([1]))).toThrow(/channel must be an integer/);
  });
});
