import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../engine/util/runtime-path.js';

export const GRADBENCH_BIN = path.join(packageRoot, 'bin', 'gradbench.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the gradbench CLI (or `script`) as a child process with its data in `home`, debug output
 * off unless `env` turns it on, and collects its exit code and output.
 */
export function runCli(
  home: string,
  args: string[],
  opts: { env?: Record<string, string>; script?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.script ?? GRADBENCH_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, GRADBENCH_HOME: home, GRADBENCH_DEBUG: '', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
