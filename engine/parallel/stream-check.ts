/**
 * A rank program that stresses the two comm streams the trainer uses: every step issues one
 * parameter gather per unit on the parameter stream and one multi-collective "reduction" per unit
 * on the gradient stream (a reduce-scatter inside the node, then, from its continuation, an
 * all-reduce across nodes and a variable-size all-gather), with random delays, different on every
 * rank, before each continuation and between tasks. Any disagreement in the order of collectives
 * between ranks shows up as a wrong value, a size error or a hang. Every result is checked against
 * values computed locally.
 *
 * Usage (environment as for any rank): node dist/engine/parallel/stream-check.js [--steps N]
 *   [--units U] [--max-delay-ms D]
 * Prints {"done":true,"checks":N} and exits 0 when every check passed; exits 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { chunkOffsets } from '../comm/collectives.js';
import { CommClient } from '../comm/comm-client.js';
import { commConfigFromEnv } from '../comm/config.js';
import { GRAD_STREAM, PARAM_STREAM } from '../comm/stream-transport.js';
import { OrderedStream } from './ordered-stream.js';
import { makeShardPlan } from './shard-plan.js';
import type { Comm } from '../comm/comm-types.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '50' },
    units: { type: 'string', default: '5' },
    'max-delay-ms': { type: 'string', default: '3' },
  },
});
const steps = Number(values.steps);
const units = Number(values.units);
const maxDelayMs = Number(values['max-delay-ms']);

const delay = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * maxDelayMs));

/** Rank r's operand for (step, unit): small integers, so every sum is exact in f32. */
function operand(r: number, step: number, unit: number, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = ((r + 1) * ((i % 7) + 1) + unit + step) % 64;
  return v;
}

function sumOver(ranks: number[], step: number, unit: number, n: number): Float32Array {
  const s = new Float32Array(n);
  for (const r of ranks) operand(r, step, unit, n).forEach((x, i) => (s[i] += x));
  return s;
}

async function main(): Promise<void> {
  const comm = await CommClient.start(commConfigFromEnv());
  const { rank, world } = comm;
  const nodes = world >= 4 ? 2 : 1;
  const plan = makeShardPlan(nodes > 1 ? 'HYBRID_SHARD' : 'FULL_SHARD', rank, world, nodes);
  const params = new OrderedStream(comm as unknown as Comm, PARAM_STREAM);
  const grads = new OrderedStream(comm as unknown as Comm, GRAD_STREAM);
  const allRanks = Array.from({ length: world }, (_, r) => r);
  let checks = 0;
  const expect = (ok: boolean, what: string): void => {
    checks++;
    if (!ok) throw new Error(`rank ${rank}: ${what}`);
  };
  const equal = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
    a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

  const gather = (step: number, u: number): Promise<void> => {
    const n = 1000 + 37 * u;
    const g = plan.shardGroup;
    const offs = chunkOffsets(n, g.length, 1);
    const full = operand(0, step, u, n);
    const mine = full.slice(offs[plan.shardIndex], offs[plan.shardIndex + 1]);
    return params.task(async (c) => {
      const got = await c.allGather(mine, n, g);
      expect(equal(got, full), `gather step ${step} unit ${u}`);
    });
  };

  const reduction = (step: number, u: number): Promise<void> => {
    const n = 4096 + 101 * u;
    const g = plan.shardGroup;
    const offs = chunkOffsets(n, g.length, 1);
    const chunk = (v: Float32Array): Float32Array =>
      v.slice(offs[plan.shardIndex], offs[plan.shardIndex + 1]);
    return grads.task(async (c) => {
      const rs = await c.reduceScatter(operand(rank, step, u, n), { ranks: g });
      expect(equal(rs, chunk(sumOver(g, step, u, n))), `reduce-scatter step ${step} unit ${u}`);
      await delay();
      const ar = await c.allReduce(rs, { ranks: plan.replicaGroup });
      // Shard group then replicas: every rank's operand, whatever the plan.
      expect(equal(ar, chunk(sumOver(allRanks, step, u, n))), `all-reduce step ${step} unit ${u}`);
      await delay();
      // Sizes differ per rank and per call: a mismatched sequence cannot pass unnoticed.
      const parts = await c.allGatherV(new Uint8Array(1 + ((rank + u + step) % 5)).fill(rank));
      expect(
        parts.every((p, r) => p.length === 1 + ((r + u + step) % 5) && p.every((b) => b === r)),
        `all-gather-v step ${step} unit ${u}`,
      );
    });
  };

  for (let step = 0; step < steps; step++) {
    const work: Promise<void>[] = [];
    for (let u = 0; u < units; u++) {
      work.push(gather(step, u));
      if (Math.random() < 0.5) await delay();
      work.push(reduction(step, units - 1 - u));
    }
    await Promise.all(work);
  }
  process.stdout.write(`${JSON.stringify({ done: true, checks })}\n`);
  await comm.close();
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
