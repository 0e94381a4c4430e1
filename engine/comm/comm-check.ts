/**
 * A rank program that checks every collective against the single-process reference over the real
 * transport: `gradbench comm-check` runs it on local ranks, and on several hosts it is the first
 * thing to run (with the same environment as training) to prove the network works.
 *
 * Usage (environment as for any rank): node dist/engine/comm/comm-check.js [--lengths 0,1,7,1000003]
 *   [--soak]   loop 16 MiB all-reduces until killed (for fault tests)
 * Prints one JSON line per check; exits 0 when all pass, 1 on the first failure or error.
 */
import { parseArgs } from 'node:util';
import { makeInput } from './check-data.js';
import { chunkOffsets } from './collectives.js';
import { CommClient } from './comm-client.js';
import { commConfigFromEnv } from './config.js';
import {
  DTYPES,
  DTYPE_BYTES,
  REDUCE_OPS,
  isIntegerDType,
  viewAs,
  type CommArray,
  type DType,
  type ReduceOp,
} from './dtype.js';
import { compareReduced, referenceReduce } from './reference.js';

const { values } = parseArgs({
  options: {
    lengths: { type: 'string', default: '0,1,7,1000003' },
    soak: { type: 'boolean', default: false },
  },
});

function say(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const same = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
const typed = (dtype: DType, b: Uint8Array): CommArray =>
  viewAs(dtype, new Uint8Array(b)) as CommArray;
/** The same bytes in shared memory: the client's zero-copy in-place path. */
const shared = (dtype: DType, b: Uint8Array): CommArray => {
  const sab = new Uint8Array(new SharedArrayBuffer(b.byteLength));
  sab.set(b);
  return viewAs(dtype, sab) as CommArray;
};
const raw = (a: CommArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

async function checkAll(comm: CommClient, lengths: number[]): Promise<number> {
  const { rank, world } = comm;
  let checks = 0;
  const expectOk = (ok: boolean, what: string): void => {
    checks++;
    if (!ok) throw new Error(`rank ${rank}: ${what} differs from the reference`);
  };
  for (const count of lengths) {
    for (const dtype of DTYPES) {
      const ops = REDUCE_OPS.filter((op) => op !== 'bor' || isIntegerDType(dtype)) as ReduceOp[];
      const inputs = Array.from({ length: world }, (_, r) => makeInput(dtype, count, count, r));
      const offs = chunkOffsets(count, world, DTYPE_BYTES[dtype]);
      for (const op of ops) {
        const want = referenceReduce(dtype, op, inputs);
        const close = (got: Uint8Array, w: Uint8Array, ins: Uint8Array[]): boolean =>
          compareReduced(dtype, op, got, w, ins, world) === -1;
        for (const algo of ['ring', 'hierarchical'] as const) {
          const got = await comm.allReduce(typed(dtype, inputs[rank]), { op, algo, dtype });
          expectOk(close(raw(got), want, inputs), `${algo} all-reduce ${dtype} ${op} n=${count}`);
        }
        const inShared = shared(dtype, inputs[rank]);
        const got = await comm.allReduce(inShared, { op, dtype });
        expectOk(
          got === inShared && close(raw(got), want, inputs),
          `shared-memory all-reduce ${dtype} ${op} n=${count}`,
        );
        const rs = await comm.reduceScatter(typed(dtype, inputs[rank]), { op, dtype });
        const slice = (b: Uint8Array): Uint8Array => b.subarray(offs[rank], offs[rank + 1]);
        expectOk(
          close(raw(rs), slice(want), inputs.map(slice)),
          `reduce-scatter ${dtype} ${op} n=${count}`,
        );
        const red = await comm.reduce(typed(dtype, inputs[rank]), world - 1, { op, dtype });
        expectOk(
          rank === world - 1 ? red !== null && close(raw(red), want, inputs) : red === null,
          `reduce ${dtype} ${op} n=${count}`,
        );
        const redShared = await comm.reduce(shared(dtype, inputs[rank]), 0, { op, dtype });
        expectOk(
          rank === 0
            ? redShared !== null && close(raw(redShared), want, inputs)
            : redShared === null,
          `shared-memory reduce ${dtype} ${op} n=${count}`,
        );
      }
      const full = inputs[0];
      const ag = await comm.allGather(
        typed(dtype, full.subarray(offs[rank], offs[rank + 1])),
        count,
      );
      expectOk(same(raw(ag), full), `all-gather ${dtype} n=${count}`);
      const agOut = shared(dtype, new Uint8Array(full.byteLength));
      const agShared = await comm.allGather(
        typed(dtype, full.subarray(offs[rank], offs[rank + 1])),
        count,
        undefined,
        agOut,
      );
      expectOk(
        agShared === agOut && same(raw(agOut), full),
        `shared-memory all-gather ${dtype} n=${count}`,
      );
      const root = world > 1 ? 1 : 0;
      const bc = await comm.broadcast(
        typed(dtype, rank === root ? full : new Uint8Array(full.byteLength)),
        root,
      );
      expectOk(same(raw(bc), full), `broadcast ${dtype} n=${count}`);
      const bcShared = await comm.broadcast(
        shared(dtype, rank === root ? full : new Uint8Array(full.byteLength)),
        root,
      );
      expectOk(same(raw(bcShared), full), `shared-memory broadcast ${dtype} n=${count}`);
    }
    const payload = (r: number): Uint8Array =>
      makeInput('u8', (count + r * 13) % (count + 1 + r), 7, r);
    const parts = await comm.allGatherV(payload(rank));
    expectOk(
      parts.length === world && parts.every((p, r) => same(p, payload(r))),
      `all-gather-v n=${count}`,
    );
    const personal = (from: number, to: number): Uint8Array =>
      makeInput('u8', (count + from * 31 + to * 7) % (count + 50), from, to);
    // Twice, handing the first call's parts back in between: the second call's receives may land
    // in that memory, and must still deliver every part intact.
    for (const round of [1, 2]) {
      const mine = Array.from({ length: world }, (_, j) => personal(rank, j));
      const a2a = await comm.allToAllV(mine);
      expectOk(
        a2a.length === world && a2a.every((p, from) => same(p, personal(from, rank))),
        `all-to-all-v n=${count} (call ${round})`,
      );
      comm.recycle(a2a);
      expectOk(same(a2a[rank], mine[rank]), `all-to-all-v n=${count}: own part kept by recycle`);
    }
    await comm.barrier();
    say({ rank, length: count, ok: true });
  }
  return checks;
}

async function soak(comm: CommClient): Promise<never> {
  const data = new Float32Array(4 << 20);
  say({ rank: comm.rank, soak: 'started' });
  for (;;) await comm.allReduce(data);
}

async function main(): Promise<void> {
  const config = commConfigFromEnv();
  const comm = await CommClient.start(config, (reason) => process.stderr.write(`${reason}\n`));
  comm.onFailure((e) => {
    process.stderr.write(`rank ${config.rank}: communication failed: ${e.message}\n`);
    process.exit(1);
  });
  if (values.soak) await soak(comm);
  const lengths = values.lengths!.split(',').map(Number);
  const checks = await checkAll(comm, lengths);
  await comm.close();
  say({ rank: config.rank, done: true, checks });
}

main().catch((e: Error) => {
  process.stderr.write(`rank ${process.env.RANK ?? '?'}: ${e.message}\n`);
  process.exit(1);
});
