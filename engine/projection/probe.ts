/**
 * Runs the probe ranks (probe-rank.ts) for a profile: this box's compute per step for the
 * profile's model and batch with every rank computing at once, and the bus bandwidth of a ring
 * all-reduce over the profile's link (or raw loopback).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Profile } from '../run/profile.js';
import type { RunConfig } from '../run/run-config.js';
import { killRanks, spawnRanks } from '../launch/local-ranks.js';
import { compiledFile } from '../util/runtime-path.js';
import { skewPerSqrtMs } from './simulate.js';
import type { ProbeFigures } from '../run/projection-types.js';

export type ProbeResult = ProbeFigures;

const PROBE_TIMEOUT_MS = 120_000;

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function probeProfile(
  profile: Profile,
  opts: { emulateLink: boolean },
): Promise<ProbeResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gradbench-probe-'));
  try {
    const config: RunConfig = {
      run: 'probe',
      createdAt: new Date().toISOString(),
      profile,
      methods: [],
      versions: {},
      host: {},
    };
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    const world = profile.parallel.worldSize;
    const procs = await spawnRanks({
      script: compiledFile('engine/projection/probe-rank.ts'),
      world,
      localWorld: world / profile.parallel.nodes,
      network:
        opts.emulateLink && profile.network.emulate
          ? {
              intra: profile.network.intra,
              inter: profile.network.inter,
              sharedNic: profile.network.sharedNic,
            }
          : { intra: 'off', inter: 'off' },
      env: { GRADBENCH_RUN_DIR: dir },
    });
    const timer = setTimeout(() => killRanks(procs), PROBE_TIMEOUT_MS);
    const exits = await Promise.all(procs.map((p) => p.exited));
    clearTimeout(timer);
    const lines = procs.map((p) => {
      const line = p.stdout.find((l) => l.startsWith('@gb '));
      if (!line || exits[p.rank].code !== 0) {
        const tail = p.stderr.slice(-5).join('\n');
        throw new Error(`probe rank ${p.rank} failed${tail ? `: ${tail}` : ''}`);
      }
      return JSON.parse(line.slice(4)) as {
        computeMs: number;
        stepComputeMs: number[];
        busGbps: number;
        allReduceBytes: number;
        allReduceMs: number;
      };
    });
    const steps = Math.min(...lines.map((l) => l.stepComputeMs.length));
    const atStep = (i: number) => lines.map((l) => l.stepComputeMs[i]);
    const meanComputeMs = mean(lines.map((l) => l.computeMs));
    // The ranks' spread at each step (slowest minus mean): the skew the run will meet.
    const spread = mean(
      Array.from({ length: steps }, (_, i) => Math.max(...atStep(i)) - mean(atStep(i))),
    );
    return {
      computeMs: Math.max(...lines.map((l) => l.computeMs)),
      meanComputeMs,
      skewPerSqrtMs: skewPerSqrtMs(spread, meanComputeMs),
      busGbps: Math.min(...lines.map((l) => l.busGbps)),
      allReduceBytes: lines[0].allReduceBytes,
      allReduceMs: Math.max(...lines.map((l) => l.allReduceMs)),
      ranks: world,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
