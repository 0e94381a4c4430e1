/**
 * Codec microbenchmark: `npm run bench:codecs`. For every method, encode and decode throughput in
 * GB/s of fp32 input on one core at 1 M and 16 M elements, next to a memcpy of the same size in
 * the same run; the compression ratio; and the relative error ||D(C(g)) - g|| / ||g|| on a real
 * gradient captured from the micro GPT (the timing inputs are that gradient tiled to size).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  ScratchPool,
  type CodecContext,
  type Compressor,
} from '../../engine/compress/compressor.js';
import { tableSize } from '../../engine/compress/sketch/count-sketch.js';
import { METHODS, parseMethodParams } from '../../engine/compress/registry.js';
import { setSimdKernels, simdAvailable } from '../../engine/compress/kernels/simd-kernels.js';
import { useBackend } from '../../engine/model/backend.js';
import { Gpt, MODEL_PRESETS } from '../../engine/model/gpt.js';
import { buildCorpus, rankBatch } from '../../engine/model/data.js';
import { FsdpTrainer } from '../../engine/parallel/fsdp-trainer.js';
import type {
  GradientReducer,
  ReduceContext,
  ReduceResult,
} from '../../engine/parallel/grad-reducer.js';
import { makeShardPlan } from '../../engine/parallel/shard-plan.js';
import { soloComm } from '../../engine/parallel/solo-comm.js';
import { relativeError as relErr } from '../../engine/util/vector.js';
import { machineLine, mdTable, writeSection } from '../report.js';

/** Runs a few micro training steps and returns the last step's full gradient. */
async function captureGradient(steps: number): Promise<Float32Array> {
  await useBackend('auto');
  const corpus = buildCorpus('shakespeare');
  const p = MODEL_PRESETS.micro;
  const model = new Gpt({
    layers: p.layers,
    dModel: p.dModel,
    heads: p.heads,
    seqLen: p.seqLen,
    vocab: corpus.vocab.length,
    tied: false,
  });
  let last: Float32Array[] = [];
  const capture: GradientReducer = {
    id: 'capture',
    async reduce(grad: Float32Array, ctx: ReduceContext): Promise<ReduceResult> {
      last[ctx.unit.index] = grad.slice(0, ctx.unit.numel);
      return { shard: grad.slice(), rawBytes: 0, wireBytes: 0, encodeMs: 0, decodeMs: 0 };
    },
  };
  const trainer = new FsdpTrainer(model, soloComm, makeShardPlan('FULL_SHARD', 0, 1, 1), capture, {
    steps,
    lr: 3e-3,
    warmupSteps: 0,
    weightDecay: 0.01,
    gradClip: 1,
    seed: 1,
  });
  for (let s = 0; s < steps; s++) {
    last = [];
    const b = rankBatch(corpus.train, {
      seqLen: p.seqLen,
      batchPerRank: 8,
      world: 1,
      rank: 0,
      seed: 1,
      step: s,
    });
    await trainer.step(s, { ...b, batch: 8 });
  }
  const total = last.reduce((a, g) => a + g.length, 0);
  const out = new Float32Array(total);
  let off = 0;
  for (const g of last) {
    out.set(g, off);
    off += g.length;
  }
  return out;
}

function tile(src: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let off = 0; off < n; off += src.length)
    out.set(src.subarray(0, Math.min(src.length, n - off)), off);
  return out;
}

/** Median seconds of `f` over `reps` runs (after one warm-up). */
function time(f: () => void, reps: number): number {
  f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

async function timeAsync(f: () => Promise<unknown>, reps: number): Promise<number> {
  await f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)];
}

const ctx: CodecContext = { key: 'bench', step: 100, rank: 0, sharedSeed: 7, localSeed: 8 };

/** Methods without a standalone payload (PowerSGD, LHC, TAGC) run one solo round instead. */
const ROUNDS_ONLY = new Set(['powersgd', 'lhc', 'tagc']);

/** One solo round; PowerSGD sees the vector as a 1024-column matrix, the sketches as one layer. */
async function soloRound(c: Compressor, x: Float32Array): Promise<Float32Array> {
  const cols = 1024;
  const segments =
    c.id === 'powersgd' ? [{ offset: 0, shape: [Math.floor(x.length / cols), cols] }] : [];
  const r = await c.communicate!(x, {
    comm: soloComm,
    group: [0],
    index: 0,
    chunks: [0, x.length],
    segments,
    ctx,
  });
  return r.chunk;
}

/** Compression ratio of the rounds-only methods with their defaults, from their formats. */
function roundsRatio(id: string, n: number): number {
  if (id === 'powersgd') {
    const rows = Math.floor(n / 1024);
    return (rows * 1024) / (4 * (rows + 1024)); // n m values vs r (n + m), r = 4
  }
  return (4 * n) / (4 * tableSize(n, 2) + Math.ceil(n / 8)); // table + 1-bit index
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'no-write': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
    },
  });
  const machine = machineLine();
  process.stderr.write('capturing a gradient from the micro GPT...\n');
  const grad = await captureGradient(3);
  const sizes = values.quick ? [1 << 20] : [1 << 20, 16 << 20];
  const rows: (string | number)[][] = [];
  const memcpy: Record<number, number> = {};
  for (const n of sizes) {
    const src = tile(grad, n);
    const dst = new Float32Array(n);
    memcpy[n] = (n * 4) / time(() => dst.set(src), 5) / 1e9;
  }
  for (const m of METHODS) {
    const variants: { params: Record<string, string>; label: string; js?: boolean }[] =
      m.id === 'int8' || m.id === 'int4'
        ? [
            { params: { scale: 'per-rank' }, label: `${m.id} (per-rank)` },
            { params: { scale: 'agreed' }, label: `${m.id} (agreed)` },
          ]
        : [{ params: {}, label: m.id }];
    // The encoders with a SIMD kernel, once more with the plain JS loops (the same bytes).
    if (m.id === 'fp16' || m.id === 'int8')
      variants.splice(1, 0, { ...variants[0], label: `${variants[0].label}, JS loop`, js: true });
    for (const { params, label, js } of variants) {
      setSimdKernels(!js);
      const c = m.create(parseMethodParams(m.id, params), {
        world: 4,
        warmupSteps: 0,
        gradClip: 1e9,
      });
      process.stderr.write(`${label}\n`);
      // Error and ratio on the real gradient.
      let err: number;
      let ratio: number;
      if (ROUNDS_ONLY.has(m.id)) {
        const g = grad.subarray(0, Math.floor(grad.length / 1024) * 1024);
        err = relErr(await soloRound(c, g), g);
        ratio = roundsRatio(m.id, g.length);
      } else {
        const enc = c.encode(grad, ctx);
        err = relErr(c.decode(enc, grad.length, ctx), grad);
        ratio = (grad.length * 4) / enc.byteLength;
      }
      const row: (string | number)[] = [label, m.pattern(params), ratio.toFixed(2), err.toFixed(4)];
      for (const n of sizes) {
        const x = tile(grad, n);
        const gb = n * 4;
        if (ROUNDS_ONLY.has(m.id)) {
          const s = await timeAsync(() => soloRound(c, x), 3);
          row.push(
            `${(gb / s / 1e9).toFixed(3)} (round)`,
            '',
            `${(gb / s / 1e9 / memcpy[n]).toFixed(3)}`,
          );
          continue;
        }
        // As in training: the payload goes into memory the reducer keeps per tensor.
        const steady: CodecContext = { ...ctx, scratch: new ScratchPool().forKey(label) };
        let enc = c.encode(x, steady);
        const te = time(() => (enc = c.encode(x, steady)), n > 4e6 ? 3 : 5);
        const td = time(() => c.decode(enc, n, ctx), n > 4e6 ? 3 : 5);
        row.push(
          (gb / te / 1e9).toFixed(3),
          (gb / td / 1e9).toFixed(3),
          (gb / te / 1e9 / memcpy[n]).toFixed(3),
        );
      }
      rows.push(row);
    }
  }
  setSimdKernels(true);
  const header = [
    'method',
    'pattern',
    'ratio',
    'rel. error (real grad)',
    ...sizes.flatMap((n) => [
      `encode GB/s @${n >> 20}M`,
      `decode GB/s @${n >> 20}M`,
      `encode / memcpy @${n >> 20}M`,
    ]),
  ];
  const body = [
    '## Codec throughput and error',
    '',
    `Measured by \`npm run bench:codecs\` on ${new Date().toISOString()}, one core (the benchmark thread).`,
    `Machine: ${machine}.`,
    `memcpy (TypedArray.set) in the same run: ${sizes.map((n) => `${memcpy[n].toFixed(2)} GB/s at ${n >> 20}M elements`).join(', ')}.`,
    `Gradient: the full micro GPT gradient after 3 training steps (${grad.length} values), tiled to each size for the timings; GB/s are of fp32 input.`,
    '',
    mdTable(header, rows),
    '',
    '- PowerSGD, LHC and TAGC have no standalone payload: their rows time one whole round on one rank (PowerSGD: P = MQ, orthonormalise, Q = M^T P, P Q^T on the vector viewed as a 1024-column matrix, rank 4; LHC and TAGC: sparsify, index, sketch, peel, with every value in one compressed layer). Their ratios come from the formats: P and Q; the sketch table plus the 1-bit index (before the union of supports across ranks, which can only add index bits, not table size).',
    `- fp16 and int8/int4 per-rank encode with WebAssembly SIMD kernels (${simdAvailable() ? 'available here' : 'NOT available here: every row used the JS loops'}), bit-identical to the JS loops; the "JS loop" rows time the same codec with the kernels off. The kernel rows include copying each 64 KiB chunk of input into the module's memory and the output back out.`,
    '- Stochastic codecs (QSGD, TernGrad) are unbiased, so their single-draw error is larger than their error in expectation.',
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (!values['no-write']) writeSection('codecs', body);
}

main().catch((e: Error) => {
  process.stderr.write(`bench:codecs: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
