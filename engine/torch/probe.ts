/**
 * Finds a python3 with torch and asks it what the PyTorch engine can do here
 * (`python3 -m gradbench_torch.probe`). Works without Python: the engine is then reported
 * unavailable with the reason, and everything else runs as before.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../util/runtime-path.js';
import type { TorchOption, TorchProbe } from './torch-probe.js';

/** The folder holding the gradbench_torch package (PYTHONPATH for every Python process). */
export const TORCH_PACKAGE_DIR = path.join(packageRoot, 'engine', 'torch');
const PROBE_TIMEOUT_MS = 60_000;

/**
 * Interpreters tried in order: $GRADBENCH_PYTHON, python3 on PATH, the system's /usr/bin/python3
 * (where Debian's python3-torch installs, when PATH starts with another Python).
 */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = [env.GRADBENCH_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (x): x is string => !!x,
  );
  return [...new Set(list)];
}

/** The environment a gradbench_torch module runs in. */
export function torchEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const pythonPath = [TORCH_PACKAGE_DIR, process.env.PYTHONPATH]
    .filter(Boolean)
    .join(path.delimiter);
  return { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: '1', ...extra };
}

interface RawProbe {
  python?: string;
  executable?: string;
  error?: string;
  torch?: string;
  cuda?: TorchProbe['cuda'];
  nccl?: TorchProbe['nccl'];
  gloo?: boolean;
  options?: TorchOption[];
}

function runProbe(python: string, timeoutMs: number): Promise<RawProbe> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-m', 'gradbench_torch.probe'],
      { env: torchEnv(), timeout: timeoutMs, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        if (err && !stdout) {
          const why =
            (err as NodeJS.ErrnoException).code === 'ENOENT'
              ? 'not found'
              : (stderr.trim().split('\n').at(-1) ?? err.message);
          resolve({ error: why });
          return;
        }
        try {
          resolve(JSON.parse(stdout) as RawProbe);
        } catch {
          resolve({ error: `unreadable probe output: ${stdout.slice(0, 200)}` });
        }
      },
    );
  });
}

/** The first candidate with torch; if none has it, unavailable with each candidate's reason. */
export async function probeTorch(
  candidates = pythonCandidates(),
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<TorchProbe> {
  const reasons: string[] = [];
  for (const python of candidates) {
    const r = await runProbe(python, timeoutMs);
    if (r.error || !r.torch) {
      reasons.push(`${python}: ${r.error ?? 'no torch'}`);
      continue;
    }
    const options = r.options ?? [];
    const ddp = options.find((o) => o.id === 'ddp');
    return {
      available: ddp?.available ?? false,
      ...(ddp?.available ? {} : { reason: ddp?.reason ?? 'torch.distributed is missing' }),
      executable: r.executable ?? python,
      python: r.python,
      torch: r.torch,
      cuda: r.cuda,
      nccl: r.nccl,
      gloo: r.gloo,
      options,
    };
  }
  return {
    available: false,
    reason: `no python3 with torch (${reasons.join('; ')}); on Debian: apt-get install python3-torch`,
    options: [],
  };
}

let cached: Promise<TorchProbe> | undefined;

/** probeTorch once per process while it finds torch; a failed probe is retried next time. */
export function torchProbe(): Promise<TorchProbe> {
  cached ??= probeTorch().then((p) => {
    if (!p.available) cached = undefined;
    return p;
  });
  return cached;
}
