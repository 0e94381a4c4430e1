/**
 * One rank of the communication microbenchmark (nccl-tests style). Started on every rank with the
 * usual rank environment by bench-comm; rank 0 prints one JSON line per (collective, size):
 *
 *   {"collective":"all_reduce","bytes":16777216,"world":4,"timeUs":...,"algbwGBs":...,"busbwGBs":...}
 *
 * Usage: node dist/benchmarks/comm/bench-rank.js --sizes 8,1024,1048576
 *   [--collectives all_reduce,all_gather,reduce_scatter] [--algo ring|hierarchical]
 *   [--target-ms 300] [--max-iters 1000] [--min-iters 2] [--inflight-mib 32]
 *
 * Sizes are bytes of the full vector (f32 elements, at least 2). For each size: a few warmup
 * iterations (the first result is checked), rank 0 picks the timed iteration count from the warmup
 * time and broadcasts it, a barrier, then the timed iterations, issued back to back with a bounded
 * number in flight (as nccl-tests launches its iterations without waiting on each): at least 2, at
 * most 64, and no more than --inflight-mib of input beyond that.
 */
import { parseArgs } from 'node:util';
import { splitCounts } from '../../engine/comm/collectives.js';
import { CommClient } from '../../engine/comm/comm-client.js';
import { commConfigFromEnv } from '../../engine/comm/config.js';
import type { AllReduceAlgo } from '../../engine/comm/collectives.js';

const COLLECTIVES = ['all_reduce', 'all_gather', 'reduce_scatter', 'all_to_all'] as const;
type CollectiveKind = (typeof COLLECTIVES)[number];

interface BenchRow {
  collective: CollectiveKind;
  algo: AllReduceAlgo;
  bytes: number;
  world: number;
  iters: number;
  timeUs: number;
  algbwGBs: number;
  busbwGBs: number;
  /** Rank 0's process CPU time (all its threads, user + system) per call: what the cores pay. */
  cpuUsPerCall: number;
}

/** nccl-tests bus bandwidth factor: what each rank's busiest link carries relative to `size`. */
function busFactor(collective: CollectiveKind, world: number): number {
  if (world <= 1) return 0;
  return collective === 'all_reduce' ? (2 * (world - 1)) / world : (world - 1) / world;
}

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '8,1048576' },
    collectives: { type: 'string', default: 'all_reduce' },
    algo: { type: 'string', default: 'ring' },
    'target-ms': { type: 'string', default: '300' },
    'max-iters': { type: 'string', default: '1000' },
    'min-iters': { type: 'string', default: '4' },
    'inflight-mib': { type: 'string', default: '32' },
  },
});

function say(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`--${name}: expected a positive number, got "${v}"`);
  return n;
}

const sizes = values.sizes!.split(',').map((s) => positive('sizes', s));
const collectives = values.collectives!.split(',').map((c) => {
  if (!(COLLECTIVES as readonly string[]).includes(c)) {
    throw new Error(`--collectives: unknown collective "${c}"; use ${COLLECTIVES.join(', ')}`);
  }
  return c as CollectiveKind;
});
const algo = values.algo as AllReduceAlgo;
if (algo !== 'ring' && algo !== 'hierarchical')
  throw new Error(`--algo: expected ring or hierarchical, got "${algo}"`);
const targetMs = positive('target-ms', values['target-ms']);
const maxIters = Math.floor(positive('max-iters', values['max-iters']));
const minIters = Math.floor(positive('min-iters', values['min-iters']));
const inflightBytes = positive('inflight-mib', values['inflight-mib']) * 2 ** 20;

/** Warm-up calls per size: at least two, so staging and receive buffers are reused (first-touch page faults are not the steady state). */
function warmupIters(bytes: number): number {
  if (bytes <= 64 * 1024) return 10;
  if (bytes <= 1 << 20) return 4;
  return 2;
}

/** One collective call of a benchmark case, on inputs prepared once. */
interface Case {
  run: () => Promise<Float32Array>;
  /** Throws when the first result is wrong (every rank fills its input with rank + 1). */
  check: (out: Float32Array) => void;
}

function makeCase(comm: CommClient, collective: CollectiveKind, count: number): Case {
  const { rank, world } = comm;
  const sum = (world * (world + 1)) / 2;
  const expectAt = (out: Float32Array, i: number, want: number, what: string): void => {
    if (out[i] !== want)
      throw new Error(
        `rank ${rank}: ${what} n=${count}: element ${i} is ${out[i]}, expected ${want}`,
      );
  };
  switch (collective) {
    case 'all_reduce': {
      // Shared memory: the client's zero-copy in-place path, as a trainer's flat buffers use it.
      const input = new Float32Array(new SharedArrayBuffer(count * 4)).fill(rank + 1);
      return {
        run: () => comm.allReduce(input, { op: 'sum', algo }),
        check: (out) => {
          if (out.length !== count)
            throw new Error(
              `rank ${rank}: all_reduce returned ${out.length} elements, expected ${count}`,
            );
          expectAt(out, 0, sum, 'all_reduce');
          expectAt(out, count - 1, sum, 'all_reduce');
        },
      };
    }
    case 'reduce_scatter': {
      // In place in shared memory into a reused result array, as the FSDP trainer reduces its
      // gradients (later calls reduce what earlier ones left: only the first result is checked).
      const input: Float32Array = new Float32Array(new SharedArrayBuffer(count * 4)).fill(rank + 1);
      const mine = splitCounts(count, world)[rank];
      const out: Float32Array = new Float32Array(mine);
      return {
        run: () => comm.reduceScatter(input, { op: 'sum', inPlace: true, out }),
        check: (out) => {
          if (out.length !== mine)
            throw new Error(
              `rank ${rank}: reduce_scatter returned ${out.length} elements, expected ${mine}`,
            );
          if (mine > 0) {
            expectAt(out, 0, sum, 'reduce_scatter');
            expectAt(out, mine - 1, sum, 'reduce_scatter');
          }
        },
      };
    }
    case 'all_to_all': {
      // The methods' exchange (TAGC, qgZ): every rank sends an equal part of its vector to every
      // rank; rank r's parts hold r + 1, so the part that came from rank i must hold i + 1.
      const per = Math.floor(count / world);
      const part = new Uint8Array(new Float32Array(per).fill(rank + 1).buffer);
      const parts = Array.from({ length: world }, () => part);
      // One result array for every call, as a method decodes into memory it keeps.
      const out = new Float32Array(per * world);
      const bytes = new Uint8Array(out.buffer);
      return {
        run: async () => {
          const got = await comm.allToAllV(parts);
          got.forEach((g, i) => bytes.set(g, i * per * 4)); // received parts may sit at any offset
          comm.recycle(got);
          return out;
        },
        check: (out) => {
          if (per === 0) return;
          for (let r = 0; r < world; r++) {
            expectAt(out, r * per, r + 1, 'all_to_all');
            expectAt(out, (r + 1) * per - 1, r + 1, 'all_to_all');
          }
        },
      };
    }
    case 'all_gather': {
      const counts = splitCounts(count, world);
      const chunk: Float32Array = new Float32Array(counts[rank]).fill(rank + 1);
      const out = new Float32Array(new SharedArrayBuffer(count * 4));
      return {
        run: () => comm.allGather(chunk, count, undefined, out),
        check: (out) => {
          if (out.length !== count)
            throw new Error(
              `rank ${rank}: all_gather returned ${out.length} elements, expected ${count}`,
            );
          let off = 0;
          for (let r = 0; r < world; r++) {
            if (counts[r] > 0) {
              expectAt(out, off, r + 1, 'all_gather');
              expectAt(out, off + counts[r] - 1, r + 1, 'all_gather');
            }
            off += counts[r];
          }
        },
      };
    }
  }
}

/** Runs `n` calls back to back with at most `window` in flight; resolves when all are done. */
async function runMany(c: Case, n: number, window: number): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < n; i++) {
    if (inflight.size >= window) await Promise.race(inflight);
    const p: Promise<unknown> = c.run().then(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
}

async function benchOne(
  comm: CommClient,
  collective: CollectiveKind,
  bytes: number,
): Promise<BenchRow | undefined> {
  const count = Math.max(2, Math.floor(bytes / 4));
  const size = count * 4;
  const c = makeCase(comm, collective, count);
  const window = Math.max(2, Math.min(64, Math.floor(inflightBytes / size)));

  // Warmup: the first call is checked, the rest estimate the time per call. At least a window's
  // worth plus one, so every call the timed loop keeps in flight finds pooled memory, as in a
  // training step's steady state.
  const warm = Math.max(warmupIters(size), window + 1);
  let t0 = performance.now();
  c.check(await c.run());
  let perCallMs = performance.now() - t0;
  if (warm > 1) {
    t0 = performance.now();
    await runMany(c, warm - 1, window);
    perCallMs = (performance.now() - t0) / (warm - 1);
  }

  // Rank 0 decides how many timed iterations fit the target time; everyone follows.
  let iters = Math.min(
    maxIters,
    Math.max(minIters, Math.floor(targetMs / Math.max(perCallMs, 1e-3))),
  );
  iters = (await comm.broadcast(new Float32Array([iters, 0]), 0))[0];

  await comm.barrier();
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await runMany(c, iters, window);
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (comm.rank !== 0) return undefined;
  const timeUs = (elapsedMs * 1000) / iters;
  const algbwGBs = size / (timeUs * 1e-6) / 1e9;
  return {
    collective,
    algo,
    bytes: size,
    world: comm.world,
    iters,
    timeUs,
    algbwGBs,
    busbwGBs: algbwGBs * busFactor(collective, comm.world),
    cpuUsPerCall: (cpu.user + cpu.system) / iters,
  };
}

async function main(): Promise<void> {
  const config = commConfigFromEnv();
  const comm = await CommClient.start(config, (reason) => process.stderr.write(`${reason}\n`));
  comm.onFailure((e) => {
    process.stderr.write(`rank ${config.rank}: communication failed: ${e.message}\n`);
    process.exit(1);
  });
  for (const collective of collectives) {
    for (const bytes of sizes) {
      const row = await benchOne(comm, collective, bytes);
      if (row) say(row);
    }
  }
  await comm.barrier();
  await comm.close();
}

main().catch((e: Error) => {
  process.stderr.write(`rank ${process.env.RANK ?? '?'}: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
