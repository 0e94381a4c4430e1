/**
 * Starts a method's ranks under torchrun (through gradbench_torch.torchrun, which is torchrun
 * made to start on Python 3.11 with torch 1.13) and presents them to the launcher as one
 * RankProcess per rank, so fail-fast, cancel and logs work as for the built-in engine.
 *
 * torchrun's workers share its stdout and stderr: each rank's events carry its rank, its log lines
 * start with "[rank N] ", and anything else is torchrun's own output. When torchrun ends, each
 * rank's exit comes from what it said (done, comm-failed) and from torchrun's failure report
 * (`rank : N` / `exitcode : -9`); the rank that died first (killed by a signal, or failing on its
 * own rather than because a peer was gone) is resolved first, so the launcher names it.
 *
 * torchrun runs in its own process group, and every rank dies with torchrun (PR_SET_PDEATHSIG in
 * the rank): when torchrun ends, the group is killed too, so no rank outlives a run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import {
  freePort,
  newRunToken,
  type RankProcess,
  type SpawnRanksOptions,
} from '../launch/local-ranks.js';
import { torchEnv, torchProbe } from './probe.js';

const EVENT_PREFIX = '@gb ';
const RANK_LOG = /^\[rank (\d+)\] /;
/** How often torchrun's agent checks its workers (its default, 5 s, delays every failure). */
const MONITOR_INTERVAL_S = '0.5';

type Exit = { code: number | null; signal: NodeJS.Signals | null };

interface RankState {
  proc: RankProcess;
  resolve: (e: Exit) => void;
  done: boolean;
  commFailed: boolean;
}

/** torchrun's command line for `world` local ranks with its own c10d rendezvous on `port`. */
export function torchrunArgs(world: number, port: number, runId: string): string[] {
  return [
    '-m',
    'gradbench_torch.torchrun',
    '--nnodes',
    '1',
    '--nproc_per_node',
    String(world),
    '--rdzv_backend',
    'c10d',
    '--rdzv_endpoint',
    `127.0.0.1:${port}`,
    // One argument: a token may start with '-'.
    `--rdzv_id=${runId}`,
    '--max_restarts',
    '0',
    '--monitor_interval',
    MONITOR_INTERVAL_S,
    '-m',
    'gradbench_torch.rank',
  ];
}

/** Exit codes by rank from torchrun's failure report. */
export function reportedExits(lines: readonly string[]): Map<number, number> {
  const exits = new Map<number, number>();
  let rank: number | undefined;
  for (const line of lines) {
    const r = /^\s*rank\s*:\s*(\d+)/.exec(line);
    if (r) rank = Number(r[1]);
    const e = /^\s*exitcode\s*:\s*(-?\d+)/.exec(line);
    if (e && rank !== undefined) exits.set(rank, Number(e[1]));
  }
  return exits;
}

const signalName = (n: number): NodeJS.Signals | null =>
  (Object.entries(constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals) ?? null;

/** Each rank's exit, the first to die first. */
export function rankExits(
  ranks: { done: boolean; commFailed: boolean }[],
  reported: Map<number, number>,
  torchrunExit: Exit,
): { rank: number; exit: Exit }[] {
  const exits = ranks.map((r, rank) => {
    const code = reported.get(rank);
    let exit: Exit;
    if (r.done && code === undefined) exit = { code: 0, signal: null };
    else if (code !== undefined && code < 0) exit = { code: null, signal: signalName(-code) };
    else if (code !== undefined) exit = { code, signal: null };
    else if (r.commFailed) exit = { code: 1, signal: null };
    else exit = torchrunExit.code === 0 ? { code: 1, signal: null } : torchrunExit;
    // 0: killed by a signal, 1: failed on its own, 2: lost a peer, 3: finished.
    const order = exit.signal ? 0 : exit.code === 0 ? 3 : r.commFailed ? 2 : 1;
    return { rank, exit, order };
  });
  return exits.sort((a, b) => a.order - b.order || a.rank - b.rank);
}

function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let partial = '';
  return (chunk) => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop() ?? '';
    parts.forEach(onLine);
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, signal);
  } catch {
    /* the group is gone */
  }
}

/** The launcher's spawnRanks for the PyTorch engine (script, network and placement do not apply). */
export async function spawnTorchRanks(opts: SpawnRanksOptions): Promise<RankProcess[]> {
  const probe = await torchProbe();
  if (!probe.available || !probe.executable)
    throw new Error(`the PyTorch engine is unavailable: ${probe.reason}`);
  const port = await freePort();
  const child = spawn(probe.executable, torchrunArgs(opts.world, port, newRunToken()), {
    env: torchEnv({ OMP_NUM_THREADS: '1', ...opts.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // The launcher signals `child`: cancel (SIGTERM) reaches torchrun, which stops its ranks; a
  // SIGKILL also reaches the ranks through the process group.
  const kill = child.kill.bind(child);
  child.kill = (signal?: NodeJS.Signals | number) => {
    if (signal === 'SIGKILL' || signal === undefined) killGroup(child, 'SIGKILL');
    return kill(signal);
  };
  const torchrunLines: string[] = [];
  const states: RankState[] = Array.from({ length: opts.world }, (_, rank) => {
    const state = { done: false, commFailed: false } as RankState;
    state.proc = {
      rank,
      child,
      stdout: [],
      stderr: [],
      exited: new Promise((resolve) => (state.resolve = resolve)),
    };
    return state;
  });
  const toRank = (rank: number, stream: 'stdout' | 'stderr', line: string): void => {
    const sink = states[rank].proc[stream];
    sink.push(line);
    if (sink.length > 2000) sink.shift();
    opts.onLine?.(rank, stream, line);
  };
  child.stdout!.on(
    'data',
    lineReader((line) => {
      if (!line.startsWith(EVENT_PREFIX)) return toRank(0, 'stdout', line);
      let ev: { ev?: string; rank?: unknown };
      try {
        ev = JSON.parse(line.slice(EVENT_PREFIX.length)) as typeof ev;
      } catch {
        return toRank(0, 'stdout', line);
      }
      const rank = Number(ev.rank);
      if (!Number.isInteger(rank) || !states[rank]) return toRank(0, 'stdout', line);
      if (ev.ev === 'done') states[rank].done = true;
      if (ev.ev === 'comm-failed') states[rank].commFailed = true;
      toRank(rank, 'stdout', line);
    }),
  );
  child.stderr!.on(
    'data',
    lineReader((line) => {
      const m = RANK_LOG.exec(line);
      const rank = m ? Number(m[1]) : NaN;
      if (states[rank]) return toRank(rank, 'stderr', line);
      torchrunLines.push(line);
      if (torchrunLines.length > 2000) torchrunLines.shift();
      opts.onLine?.(0, 'stderr', `[torchrun] ${line}`);
    }),
  );
  child.once('close', (code, signal) => {
    killGroup(child, 'SIGKILL');
    const exits = rankExits(states, reportedExits(torchrunLines), { code, signal });
    for (const { rank, exit } of exits) states[rank].resolve(exit);
  });
  return states.map((s) => s.proc);
}
