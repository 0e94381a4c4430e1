/**
 * Communication microbenchmark driver (nccl-tests style): `npm run bench:comm [-- --quick]`.
 *
 * 1. Raw loopback TCP throughput between plain Node processes (one pair, and rings), the ceiling
 *    for the comm layer on this machine.
 * 2. bench-rank on local ranks, for several world sizes, with link emulation off and at 1 Gb/s,
 *    and a two-node hierarchical vs ring all-reduce comparison.
 *
 * Progress goes to stderr. Results replace the section between the bench:comm markers in
 * BENCHMARKS.md and are written in full to benchmarks/results/comm.json.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LINK_PRESETS } from '../../engine/comm/emulation.js';
import type { CommConfigInput } from '../../engine/comm/config.js';
import { killRanks, spawnRanks } from '../../engine/launch/local-ranks.js';
import { compiledFile, packageRoot } from '../../engine/util/runtime-path.js';
import { measureRawPair, measureRawRing } from './raw-socket.js';

type Collective = 'all_reduce' | 'all_gather' | 'reduce_scatter' | 'all_to_all';
type Algo = 'ring' | 'hierarchical';

/** What bench-rank prints, one line per (collective, size). */
interface RankRow {
  collective: Collective;
  algo: Algo;
  bytes: number;
  world: number;
  iters: number;
  timeUs: number;
  algbwGBs: number;
  busbwGBs: number;
}

interface Row extends RankRow {
  suite: Suite;
  nodes: number;
  /** busbw in % of its reference: raw ring(world) per-link throughput, or one emulated link. */
  pctOfRef: number;
}

/** off: raw loopback; emulated: every link 1 Gb/s; hier: 2 nodes, intra raw, inter 1 Gb/s. */
type Suite = 'off' | 'emulated' | 'hier';

interface RunSpec {
  suite: Suite;
  world: number;
  localWorld: number;
  network: CommConfigInput['network'];
  collectives: Collective[];
  algo: Algo;
  sizes: number[];
  targetMs: number;
}

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
});
const quick = flags.quick!;

const KiB = 1024;
const MiB = 1024 * KiB;
const EMULATED = '1GbE' as const;
const LINK_GBS = LINK_PRESETS[EMULATED].gbps / 8; // GB/s of one emulated directed link
/** 8 B, then x4 from 64 B to 64 MiB: 12 rows, with 16 MiB and 64 MiB exactly. */
const FULL_SIZES = [8, ...Array.from({ length: 11 }, (_, i) => 64 * 4 ** i)];
/** Quick: the headline sizes and a few others; 64 MiB only where a headline needs it. */
const QUICK_SIZES = [8, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB];
const QUICK_EMULATED_SIZES = [8, 64 * KiB, 1 * MiB, 16 * MiB];
const HIER_SIZES = quick ? [16 * MiB] : [16 * MiB, 64 * MiB];
const WORLDS = quick ? [2, 4] : [2, 4, 8];
const TARGET_MS = quick ? 150 : 300;
const RUN_TIMEOUT_MS = 240_000;

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function fmtSize(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} B`;
}

const fmt = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
const fmtUs = (us: number): string => (us >= 100 ? us.toFixed(0) : us.toFixed(1));

function plan(): RunSpec[] {
  const runs: RunSpec[] = [];
  for (const suite of ['off', 'emulated'] as const) {
    for (const world of WORLDS) {
      runs.push({
        suite,
        world,
        localWorld: world,
        network:
          suite === 'off' ? { intra: 'off', inter: 'off' } : { intra: EMULATED, inter: EMULATED },
        // Every collective FSDP and the methods use, at 4 ranks and at 8 under emulation;
        // elsewhere the all-reduce stands for them.
        collectives:
          world === 4 || (world === 8 && suite === 'emulated')
            ? ['all_reduce', 'all_gather', 'reduce_scatter', 'all_to_all']
            : ['all_reduce'],
        algo: 'ring',
        sizes: quick ? (suite === 'off' ? QUICK_SIZES : QUICK_EMULATED_SIZES) : FULL_SIZES,
        targetMs: TARGET_MS,
      });
    }
  }
  for (const algo of ['ring', 'hierarchical'] as const) {
    runs.push({
      suite: 'hier',
      world: 4,
      localWorld: 2,
      network: { intra: 'off', inter: EMULATED },
      collectives: ['all_reduce'],
      algo,
      sizes: HIER_SIZES,
      targetMs: TARGET_MS,
    });
  }
  return runs;
}

function suiteLabel(r: { suite: Suite; world: number; algo: Algo }): string {
  if (r.suite === 'hier') return `2x2 nodes, inter ${EMULATED}, ${r.algo}`;
  return `${r.suite === 'off' ? 'emulation off' : `emulated ${EMULATED}`}, ${r.world} ranks`;
}

async function runRanks(spec: RunSpec): Promise<RankRow[]> {
  const rows: RankRow[] = [];
  const label = suiteLabel(spec);
  const procs = await spawnRanks({
    script: compiledFile('benchmarks/comm/bench-rank.ts'),
    args: [
      '--sizes',
      spec.sizes.join(','),
      '--collectives',
      spec.collectives.join(','),
      '--algo',
      spec.algo,
      '--target-ms',
      String(spec.targetMs),
    ],
    world: spec.world,
    localWorld: spec.localWorld,
    network: spec.network,
    onLine: (rank, stream, line) => {
      if (stream === 'stderr') return log(`  [rank ${rank}] ${line}`);
      if (rank !== 0 || !line.startsWith('{')) return;
      const row = JSON.parse(line) as RankRow;
      rows.push(row);
      log(
        `  ${label}: ${row.collective} ${fmtSize(row.bytes).padStart(7)}  ${fmtUs(row.timeUs).padStart(9)} us  ` +
          `busbw ${fmt(row.busbwGBs)} GB/s  (${row.iters} iters)`,
      );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>(
    (resolve) => (timer = setTimeout(() => resolve('timeout'), RUN_TIMEOUT_MS)),
  );
  const result = await Promise.race([Promise.all(procs.map((p) => p.exited)), timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    killRanks(procs);
    await Promise.all(procs.map((p) => p.exited));
    throw new Error(`${label}: no result within ${RUN_TIMEOUT_MS / 1000} s`);
  }
  const bad = result.findIndex((r) => r.code !== 0);
  if (bad >= 0) {
    killRanks(procs);
    const tail = procs[bad].stderr.slice(-5).join('\n');
    throw new Error(
      `${label}: rank ${bad} exited with ${result[bad].code ?? result[bad].signal}${tail ? `:\n${tail}` : ''}`,
    );
  }
  return rows;
}

/** A markdown table with columns padded to equal width (numbers right-aligned). */
function table(head: string[], rows: string[][], right: boolean[]): string {
  const w = head.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const cell = (s: string, i: number): string => (right[i] ? s.padStart(w[i]) : s.padEnd(w[i]));
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `| ${w.map((n, i) => (right[i] ? `${'-'.repeat(n - 1)}:` : '-'.repeat(n))).join(' | ')} |`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

interface Raw {
  pairGBs: number;
  ringGBs: Record<number, number>;
}

function find(
  rows: Row[],
  suite: Suite,
  world: number,
  collective: Collective,
  bytes: number,
  algo: Algo = 'ring',
) {
  return rows.find(
    (r) =>
      r.suite === suite &&
      r.world === world &&
      r.collective === collective &&
      r.bytes === bytes &&
      r.algo === algo,
  );
}

function headlines(
  rows: Row[],
  raw: Raw,
): { emulated: string; off: string; values: Record<string, number | null> } {
  const e = find(rows, 'emulated', 4, 'all_reduce', 16 * MiB);
  const o = find(rows, 'off', 4, 'all_reduce', 64 * MiB);
  const emulated = e
    ? `Emulated 1 Gb/s, 16 MiB all-reduce, 4 ranks: busbw ${fmt(e.busbwGBs)} GB/s = ${fmt((100 * e.busbwGBs) / LINK_GBS, 1)} % of the link`
    : 'Emulated 1 Gb/s, 16 MiB all-reduce, 4 ranks: not measured';
  const off = o
    ? `Emulation off, 64 MiB all-reduce, 4 ranks: busbw ${fmt(o.busbwGBs)} GB/s = ${fmt((100 * o.busbwGBs) / raw.ringGBs[4], 1)} % ` +
      `of raw ring per-link throughput (${fmt((100 * o.busbwGBs) / raw.pairGBs, 1)} % of the raw single-pair throughput)`
    : 'Emulation off, 64 MiB all-reduce, 4 ranks: not measured';
  return {
    emulated,
    off,
    values: {
      emulated16MiBBusbwGBs: e?.busbwGBs ?? null,
      emulated16MiBPctOfLink: e ? (100 * e.busbwGBs) / LINK_GBS : null,
      off64MiBBusbwGBs: o?.busbwGBs ?? null,
      off64MiBPctOfRawRing: o ? (100 * o.busbwGBs) / raw.ringGBs[4] : null,
      off64MiBPctOfRawPair: o ? (100 * o.busbwGBs) / raw.pairGBs : null,
    },
  };
}

/** Rows that look wrong: large emulated transfers off the link rate, large raw all-reduces slow. */
function anomalies(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.bytes < 1 * MiB) continue;
    const where = `${suiteLabel(r)}, ${r.collective} ${fmtSize(r.bytes)}`;
    if (r.suite === 'emulated' && (r.pctOfRef < 85 || r.pctOfRef > 105)) {
      out.push(
        `${where}: busbw is ${fmt(r.pctOfRef, 1)} % of the emulated link (expected 85-105 %)`,
      );
    }
    if (
      r.suite === 'off' &&
      r.collective === 'all_reduce' &&
      r.bytes >= 16 * MiB &&
      r.pctOfRef < 50
    ) {
      out.push(
        `${where}: busbw is ${fmt(r.pctOfRef, 1)} % of raw ring(${r.world}) per-link throughput (below 50 %)`,
      );
    }
  }
  return out;
}

function markdown(o: {
  date: string;
  elapsedS: number;
  raw: Raw;
  rows: Row[];
  failures: string[];
  machine: string;
  loadBefore: number[];
}): string {
  const { raw, rows } = o;
  const h = headlines(rows, raw);
  const ringList = Object.entries(raw.ringGBs)
    .map(([w, g]) => `ring(${w}) ${fmt(g)} GB/s`)
    .join(', ');
  const parts: string[] = [
    '## Communication microbenchmark',
    '',
    `Measured by \`npm run bench:comm${quick ? ' -- --quick' : ''}\` on ${o.date}; the whole benchmark took ${o.elapsedS.toFixed(0)} s.`,
    '',
    `- Machine: ${o.machine}`,
    `- Load average (1/5/15 min) before the run: ${o.loadBefore.map((x) => x.toFixed(2)).join(' / ')} ` +
      '(other work on the machine slows every row, the raw ceilings included)',
    `- Raw loopback TCP, one Node process pair: **${fmt(raw.pairGBs)} GB/s**`,
    `- Raw loopback TCP ring of 4 Node processes (all sending and receiving at once), per link: **${fmt(raw.ringGBs[4])} GB/s** (${ringList})`,
    '',
    `**${h.emulated}**`,
    '',
    `**${h.off}**`,
    '',
    'Definitions as in nccl-tests: time is the mean wall time of one call on rank 0; algbw = size / time; ' +
      'busbw = algbw x 2(n-1)/n for all_reduce and x (n-1)/n for all_gather, reduce_scatter and all_to_all, where size is the ' +
      'bytes of the full (reduced, gathered or exchanged) f32 vector. With emulation off, "% ref" compares busbw with the raw ' +
      'ring per-link throughput of the same number of processes; with emulation on, with one emulated link ' +
      `(${EMULATED}: ${LINK_PRESETS[EMULATED].gbps} Gb/s = ${LINK_GBS} GB/s, ${LINK_PRESETS[EMULATED].latencyUs} us latency). ` +
      "Each rank's emulated sends share one NIC (network.sharedNic), as a GPU's do: an all_to_all's parts for its n-1 peers " +
      "leave one after another, so its busbw, like a ring's, is what that NIC carries.",
  ];
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = r.suite === 'hier' ? 'hier' : `${r.suite}|${r.world}|${r.collective}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const [key, rs] of groups) {
    if (key === 'hier') continue;
    const r0 = rs[0];
    const ref = r0.suite === 'off' ? `% raw ring(${r0.world})` : '% of link';
    parts.push(
      '',
      `### ${r0.suite === 'off' ? 'Emulation off' : `Emulated ${EMULATED}`}, ${r0.world} ranks, ${r0.collective}`,
      '',
    );
    parts.push(
      table(
        ['size', 'time (us)', 'algbw (GB/s)', 'busbw (GB/s)', ref],
        rs.map((r) => [
          fmtSize(r.bytes),
          fmtUs(r.timeUs),
          fmt(r.algbwGBs),
          fmt(r.busbwGBs),
          fmt(r.pctOfRef, 1),
        ]),
        [true, true, true, true, true],
      ),
    );
  }
  const hier = groups.get('hier') ?? [];
  if (hier.length > 0) {
    parts.push(
      '',
      `### Hierarchical all-reduce: 4 ranks as 2 nodes x 2, intra-node raw, inter-node ${EMULATED}`,
      '',
      'A ring crosses the inter-node links with the full 2(n-1)/n of the data; the hierarchical algorithm ' +
        'reduce-scatters inside each node first, so only 1/2 of the vector crosses nodes (on two separate ' +
        'inter-node ring pairs). "% of link" compares busbw with one inter-node link.',
      '',
    );
    parts.push(
      table(
        [
          'size',
          'algo',
          'time (us)',
          'algbw (GB/s)',
          'busbw (GB/s)',
          '% of link',
          'speedup vs ring',
        ],
        hier.map((r) => {
          const ring = find(rows, 'hier', 4, 'all_reduce', r.bytes, 'ring');
          const speedup = ring ? `${(ring.timeUs / r.timeUs).toFixed(2)}x` : 'n/a';
          return [
            fmtSize(r.bytes),
            r.algo,
            fmtUs(r.timeUs),
            fmt(r.algbwGBs),
            fmt(r.busbwGBs),
            fmt(r.pctOfRef, 1),
            speedup,
          ];
        }),
        [true, false, true, true, true, true, true],
      ),
    );
  }
  const flagged = anomalies(rows);
  if (flagged.length > 0) parts.push('', 'Outliers:', '', ...flagged.map((f) => `- ${f}`));
  if (o.failures.length > 0)
    parts.push('', 'Failed runs:', '', ...o.failures.map((f) => `- ${f.split('\n')[0]}`));
  return parts.join('\n');
}

const START = '<!-- bench:comm:start -->';
const END = '<!-- bench:comm:end -->';

/** Replaces the marked section of BENCHMARKS.md (or appends it), leaving the rest untouched. */
function writeSection(file: string, body: string): void {
  const section = `${START}\n${body}\n${END}`;
  if (!existsSync(file)) {
    writeFileSync(file, `# Benchmarks\n\n${section}\n`);
    return;
  }
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(START);
  const b = a >= 0 ? text.indexOf(END, a) : -1;
  if (a >= 0 && b >= 0) {
    writeFileSync(file, text.slice(0, a) + section + text.slice(b + END.length));
  } else {
    writeFileSync(file, `${text.replace(/\s*$/, '')}\n\n${section}\n`);
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const date = new Date().toISOString();
  const cpus = os.cpus();
  const machineInfo = {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
  };
  const machine = `${machineInfo.cpu}, ${machineInfo.cores} cores, ${machineInfo.memGiB.toFixed(1)} GiB RAM, Node ${machineInfo.node}, ${machineInfo.platform}`;
  const loadStart = os.loadavg();
  log(
    `bench:comm${quick ? ' (quick)' : ''} on ${machine}; load average ${loadStart.map((x) => x.toFixed(2)).join(' ')}`,
  );

  log('raw loopback TCP: one pair ...');
  const pairGBs = await measureRawPair(quick ? 256 : 512);
  log(`  pair: ${fmt(pairGBs)} GB/s`);
  const ringGBs: Record<number, number> = {};
  for (const w of WORLDS) {
    ringGBs[w] = await measureRawRing(w, quick ? 128 : 256);
    log(`  ring(${w}): ${fmt(ringGBs[w])} GB/s per link`);
  }
  const raw: Raw = { pairGBs, ringGBs };

  const rows: Row[] = [];
  const failures: string[] = [];
  for (const spec of plan()) {
    log(
      `${suiteLabel(spec)}: ${spec.collectives.join(', ')} (${spec.sizes.length > 1 ? `${fmtSize(spec.sizes[0])} .. ${fmtSize(spec.sizes[spec.sizes.length - 1])}` : fmtSize(spec.sizes[0])})`,
    );
    try {
      for (const r of await runRanks(spec)) {
        const ref = spec.suite === 'off' ? raw.ringGBs[spec.world] : LINK_GBS;
        rows.push({
          ...r,
          suite: spec.suite,
          nodes: spec.world / spec.localWorld,
          pctOfRef: (100 * r.busbwGBs) / ref,
        });
      }
    } catch (e) {
      const msg = (e as Error).message;
      failures.push(msg);
      log(`  FAILED: ${msg}`);
    }
  }

  const elapsedS = (performance.now() - t0) / 1000;
  const h = headlines(rows, raw);
  log('');
  log(h.emulated);
  log(h.off);
  for (const a of anomalies(rows)) log(`outlier: ${a}`);

  if (!flags['no-write']) {
    const md = path.join(packageRoot, 'BENCHMARKS.md');
    writeSection(
      md,
      markdown({ date, elapsedS, raw, rows, failures, machine, loadBefore: loadStart }),
    );
    const dir = path.join(packageRoot, 'benchmarks', 'results');
    mkdirSync(dir, { recursive: true });
    const json = {
      date,
      quick,
      elapsedS,
      machine: machineInfo,
      loadAverageBefore: loadStart.map((x) => x.toFixed(2)).join(' '),
      emulatedLink: { preset: EMULATED, ...LINK_PRESETS[EMULATED], GBs: LINK_GBS },
      raw: { pairGBs, ringGBs },
      headlines: h.values,
      rows,
      failures,
    };
    writeFileSync(path.join(dir, 'comm.json'), `${JSON.stringify(json, null, 2)}\n`);
    log(
      `wrote ${path.relative(process.cwd(), md)} and ${path.relative(process.cwd(), path.join(dir, 'comm.json'))}`,
    );
  }
  log(`elapsed: ${elapsedS.toFixed(1)} s`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((e: Error) => {
  log(`bench:comm failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
