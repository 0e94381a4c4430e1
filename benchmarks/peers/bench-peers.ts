/**
 * GradBench beside PyTorch on this machine: `npm run bench:peers [-- --rounds 3 --steps 8]`.
 *
 * One call alternates the engine and the peer (Debian's PyTorch, CPU, gloo; torch_peer.py next to
 * this file) case by case, round after round, so load from other work on the machine hits both
 * sides alike; each figure is the median over the rounds with its range, and each ratio is the
 * median of the per-round ratios. Cases:
 * - ring all-reduce vs gloo all-reduce, 2 and 4 ranks, 4 MiB and 64 MiB, no link emulation
 *   (busbw as in nccl-tests, and rank 0's CPU time per call on each side);
 * - a training step of the micro GPT (batch 8 per rank) at world 1 and 4: the engine's NO_SHARD
 *   (all-reduced gradients) vs PyTorch DDP, tokens/s.
 * Where PyTorch cannot be imported, the section says so and nothing runs. Results replace the
 * bench:peers section of BENCHMARKS.md (unless --no-write).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startRun } from '../../engine/app/launcher.js';
import { parseProfile } from '../../engine/run/profile.js';
import { spawnRanks } from '../../engine/launch/local-ranks.js';
import { compiledFile, packageRoot } from '../../engine/util/runtime-path.js';
import { machineLine, mdTable, writeSection } from '../report.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '8' },
    python: { type: 'string', default: process.env.GRADBENCH_PYTHON ?? '/usr/bin/python3' },
    'no-write': { type: 'boolean', default: false },
  },
});
const ROUNDS = Math.max(1, Number(flags.rounds));
/** Training steps per run; the first WARMUP_STEPS are left out of the median (as the peer does). */
const STEPS = Math.max(5, Number(flags.steps));
const WARMUP_STEPS = 3;
const PYTHON = flags.python!;
const PEER_SCRIPT = path.join(packageRoot, 'benchmarks', 'peers', 'torch_peer.py');
const MiB = 2 ** 20;
const BATCH = 8;
const SEQ_LEN = 128; // the micro preset's context

interface CommCase {
  kind: 'all-reduce';
  world: number;
  bytes: number;
}
interface StepCase {
  kind: 'micro step';
  world: number;
}
type Case = CommCase | StepCase;

const CASES: Case[] = [
  ...[2, 4].flatMap((world) =>
    [4 * MiB, 64 * MiB].map((bytes): Case => ({ kind: 'all-reduce', world, bytes })),
  ),
  { kind: 'micro step', world: 1 },
  { kind: 'micro step', world: 4 },
];

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** Runs a command, resolving with its stdout (rejecting with the tail of stderr on failure). */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.slice(-400)}`)),
    );
  });
}

/** Why the peer cannot run here, or undefined when it can. */
async function peerMissing(): Promise<string | undefined> {
  try {
    const v = await run(PYTHON, [
      '-c',
      'import torch, torch.distributed; print(torch.__version__)',
    ]);
    log(`peer: PyTorch ${v.trim()} (${PYTHON})`);
    return undefined;
  } catch (e) {
    return `PyTorch is not importable with ${PYTHON} (${(e as Error).message.split('\n')[0]})`;
  }
}

/** The last JSON line a peer run printed. */
function lastJson(out: string): Record<string, number> {
  const line = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`no result line in: ${out.slice(-300)}`);
  return JSON.parse(line) as Record<string, number>;
}

/** Timed calls per gloo run: about as many as bench-rank times at its 1 s target. */
const glooIters = (bytes: number): number => (bytes >= 64 * MiB ? 4 : 20);

/** One measurement: the case's figure, and for all-reduce the CPU time rank 0 spent per call. */
interface Sample {
  value: number;
  cpuMs?: number;
}

async function engineAllReduce(c: CommCase): Promise<Sample> {
  let row: { busbwGBs: number; cpuUsPerCall: number } | undefined;
  const procs = await spawnRanks({
    script: compiledFile('benchmarks/comm/bench-rank.ts'),
    args: ['--sizes', String(c.bytes), '--collectives', 'all_reduce', '--target-ms', '1000'],
    world: c.world,
    localWorld: c.world,
    network: { intra: 'off', inter: 'off' },
    onLine: (rank, stream, line) => {
      if (stream === 'stderr') log(`  [rank ${rank}] ${line}`);
      else if (rank === 0 && line.startsWith('{')) row = JSON.parse(line) as typeof row;
    },
  });
  const exits = await Promise.all(procs.map((p) => p.exited));
  if (row === undefined || exits.some((e) => e.code !== 0))
    throw new Error(`engine all-reduce (${c.world} ranks) failed`);
  return { value: row.busbwGBs, cpuMs: row.cpuUsPerCall / 1000 };
}

async function engineStep(c: StepCase): Promise<number> {
  const profile = parseProfile({
    name: `peers-micro-w${c.world}`,
    model: { preset: 'micro' },
    train: { steps: STEPS, batchPerRank: BATCH },
    parallel: { worldSize: c.world, nodes: 1, sharding: 'NO_SHARD' },
  });
  const stepMs: number[] = [];
  const handle = await startRun(profile, {
    home: mkdtempSync(path.join(os.tmpdir(), 'gradbench-peers-')),
    onEvent: (e) => {
      if (e.type === 'progress' && e.step >= WARMUP_STEPS) stepMs.push(e.stepMs);
    },
  });
  await handle.done;
  if (stepMs.length === 0) throw new Error(`engine micro step (world ${c.world}): no steps`);
  return (c.world * BATCH * SEQ_LEN) / (median(stepMs) / 1000);
}

/** The case's figure for the engine and for the peer: busbw GB/s, or tokens/s. */
async function measure(c: Case, side: 'engine' | 'peer'): Promise<Sample> {
  if (c.kind === 'all-reduce') {
    if (side === 'engine') return engineAllReduce(c);
    const args = ['allreduce', String(c.world), String(c.bytes), String(glooIters(c.bytes))];
    const out = lastJson(await run(PYTHON, [PEER_SCRIPT, ...args]));
    return { value: out.busbwGBs, cpuMs: out.cpuMs };
  }
  if (side === 'engine') return { value: await engineStep(c) };
  const out = lastJson(await run(PYTHON, [PEER_SCRIPT, 'gpt', String(c.world), String(STEPS)]));
  return { value: out.tokensPerSec };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function label(c: Case): string {
  return c.kind === 'all-reduce'
    ? `all-reduce ${c.bytes / MiB} MiB, ${c.world} ranks: busbw GB/s`
    : `micro step, world ${c.world}: tokens/s`;
}

function cpuLabel(c: CommCase): string {
  return `all-reduce ${c.bytes / MiB} MiB, ${c.world} ranks: CPU ms per call (rank 0)`;
}

/** "median (min-max)" of a sample. */
function spread(xs: number[], digits: number): string {
  const f = (x: number): string => x.toFixed(digits);
  return `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
}

async function main(): Promise<void> {
  const started = new Date();
  const machine = machineLine();
  const missing = await peerMissing();
  if (missing) {
    log(`skipped: ${missing}`);
    if (!flags['no-write'])
      writeSection(
        'peers',
        `## GradBench beside PyTorch\n\nNot measured on ${started.toISOString()}: ${missing}. Install it (Debian: \`apt-get install python3-torch\`) or point \`--python\` at an interpreter that has it.`,
      );
    return;
  }
  const engine = CASES.map((): Sample[] => []);
  const peer = CASES.map((): Sample[] => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of CASES.entries()) {
      // Alternate which side goes first, so neither always runs on the warmer (or busier) machine.
      const order: ('engine' | 'peer')[] = round % 2 ? ['peer', 'engine'] : ['engine', 'peer'];
      for (const side of order) (side === 'engine' ? engine : peer)[i].push(await measure(c, side));
      log(
        `round ${round + 1}/${ROUNDS} ${label(c)}: engine ${engine[i].at(-1)!.value.toFixed(3)}, peer ${peer[i].at(-1)!.value.toFixed(3)} (load ${os.loadavg()[0].toFixed(2)})`,
      );
    }
  }
  const rows = CASES.flatMap((c, i) => {
    const digits = c.kind === 'all-reduce' ? 3 : 0;
    const row = (what: string, e: number[], p: number[], d: number): string[] => [
      what,
      spread(e, d),
      spread(p, d),
      `${spread(
        e.map((x, r) => x / p[r]),
        2,
      )}x`,
    ];
    const values = (s: Sample[]): number[] => s.map((x) => x.value);
    const cpu = (s: Sample[]): number[] => s.map((x) => x.cpuMs ?? NaN);
    const out = [row(label(c), values(engine[i]), values(peer[i]), digits)];
    if (c.kind === 'all-reduce') out.push(row(cpuLabel(c), cpu(engine[i]), cpu(peer[i]), 1));
    return out;
  });
  const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
  const body = [
    '## GradBench beside PyTorch (same machine, one alternating call)',
    '',
    `Measured by \`npm run bench:peers\` on ${started.toISOString()} (${minutes} min, ${ROUNDS} rounds). ${machine}; load average after the run ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')}.`,
    '',
    mdTable(['figure', 'GradBench', 'PyTorch', 'GradBench / PyTorch'], rows),
    '',
    '- Median over the rounds, range in brackets; the ratio column is the median of the per-round ratios (engine and peer measured back to back in each round, the first side alternating).',
    "- All-reduce: the engine's ring (bench-rank, in place on shared memory, 1 s of timed calls) against gloo's all-reduce (`torch.distributed.all_reduce`, one thread per rank), loopback, no emulation; busbw = size / time x 2(n-1)/n. CPU per call is rank 0's process CPU time (all its threads, user + system) over the timed calls: with more ranks than cores the ranks share the cores, so wall time follows the CPU every rank spends per call (n ranks x CPU per call / cores is a floor on the time per call).",
    `- Micro step: the engine's micro preset (4 layers, d 128, 4 heads, context 128, vocabulary 65), batch ${BATCH} per rank, NO_SHARD (gradients all-reduced, as DDP does) against PyTorch DDP over gloo of the same shapes written in PyTorch (benchmarks/peers/torch_peer.py), AdamW, one compute thread per rank; median step time of steps ${WARMUP_STEPS + 1}-${STEPS}, tokens/s = world x batch x context / step time.`,
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (!flags['no-write']) writeSection('peers', body);
}

main().catch((e: Error) => {
  log(e.stack ?? e.message);
  process.exit(1);
});
