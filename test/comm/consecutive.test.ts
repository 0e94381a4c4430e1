import { expect, it } from 'vitest';
import { localComms } from '../helpers/local-comm.js';
it('back-to-back small all-reduces (bor, then max) agree on every rank', async () => {
  const comms = localComms(4);
  const res = await Promise.all(
    comms.map(async (c, r) => {
      const ps = [0, 1, 2, 3].map((j) =>
        c.allReduce(
          Uint8Array.from({ length: 1000 }, (_, i) => ((i + j + r) % 8 === 0 ? 1 << r : 0)),
          { op: 'bor', ranks: [0, 1, 2, 3] },
        ),
      );
      const mx = await c.allReduce(Float32Array.of(r, 2 * r, 7 - r, 1), {
        op: 'max',
        ranks: [0, 1, 2, 3],
      });
      return { bits: await Promise.all(ps), mx: [...mx] };
    }),
  );
  for (const x of res) expect(x.mx).toEqual([3, 6, 7, 1]);
  for (let j = 0; j < 4; j++)
    for (const x of res)
      expect(Buffer.from(x.bits[j]).equals(Buffer.from(res[0].bits[j]))).toBe(true);
});
