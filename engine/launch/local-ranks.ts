/**
 * Spawns `world` local rank processes of a compiled entry script with the torchrun-style
 * environment, and tracks them. Policy (fail-fast, cancel) belongs to the callers; this module
 * only starts, observes and kills processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { rankEnv, type CommConfigInput } from '../comm/config.js';

export interface RankProcess {
  rank: number;
  child: ChildProcess;
  /** Resolves when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: string[];
  stderr: string[];
}

/** Where one rank runs: by default a plain child process talking over loopback. */
export interface RankPlacement {
  /** Command the rank's Node process is started under, e.g. `['ip', 'netns', 'exec', 'node0']`. */
  prefix?: string[];
  /** Address the rank's mesh listens on and peers dial; rank 0's also hosts the rendezvous store. */
  address?: string;
}

export interface SpawnRanksOptions {
  script: string;
  args?: string[];
  world: number;
  localWorld?: number;
  network?: CommConfigInput['network'];
  joinTimeoutMs?: number;
  env?: Record<string, string>;
  /** Per-rank command prefix and address (ranks on separate hosts or network namespaces). */
  placement?: (rank: number) => RankPlacement;
  onLine?: (rank: number, stream: 'stdout' | 'stderr', line: string) => void;
}

/** A TCP port that was free a moment ago (the OS picks it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function newRunToken(): string {
  return randomBytes(24).toString('base64url');
}

function lines(rank: number, stream: 'stdout' | 'stderr', sink: string[], opts: SpawnRanksOptions) {
  let partial = '';
  return (chunk: Buffer): void => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      sink.push(line);
      if (sink.length > 2000) sink.shift();
      opts.onLine?.(rank, stream, line);
    }
  };
}

/**
 * glibc returns large freed blocks to the OS at once and maps fresh pages for the next one: every
 * multi-MiB message then pays a page fault per 4 KiB (measured: fresh memory writes at ~0.3 GB/s
 * here, reused memory at ~1.7 GB/s). Keeping blocks up to 32 MiB (glibc's maximum) on the heap
 * lets collectives reuse them.
 */
export const RANK_MALLOC_ENV: Record<string, string> = {
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(512 * 1024 * 1024),
  MALLOC_TOP_PAD_: String(64 * 1024 * 1024),
};

export async function spawnRanks(opts: SpawnRanksOptions): Promise<RankProcess[]> {
  const masterPort = await freePort();
  const token = newRunToken();
  const masterAddr = opts.placement?.(0).address ?? '127.0.0.1';
  return Array.from({ length: opts.world }, (_, rank) => {
    const place = opts.placement?.(rank) ?? {};
    const env = {
      ...RANK_MALLOC_ENV,
      ...process.env,
      ...rankEnv({
        rank,
        world: opts.world,
        localWorld: opts.localWorld ?? opts.world,
        masterAddr,
        masterPort,
        token,
        network: opts.network,
        joinTimeoutMs: opts.joinTimeoutMs,
        ...(place.address ? { listenHost: place.address } : {}),
      }),
      ...(place.address ? { GRADBENCH_ADVERTISE_ADDR: place.address } : {}),
      ...opts.env,
      // Inside the Electron app, execPath is Electron itself: run the rank as plain Node.
      ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}),
    };
    const [command, ...args] = [
      ...(place.prefix ?? []),
      process.execPath,
      opts.script,
      ...(opts.args ?? []),
    ];
    const child = spawn(command, args, {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: RankProcess = {
      rank,
      child,
      stdout: [],
      stderr: [],
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      ),
    };
    child.stdout!.on('data', lines(rank, 'stdout', proc.stdout, opts));
    child.stderr!.on('data', lines(rank, 'stderr', proc.stderr, opts));
    return proc;
  });
}

/** Sends `signal` to every rank still running. */
export function killRanks(procs: RankProcess[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
}

/** True if a process with this pid still exists. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
