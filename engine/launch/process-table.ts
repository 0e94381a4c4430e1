/**
 * What this process holds, from Linux's /proc: its child processes and its open file
 * descriptors. The fault suite and the soak benchmark use them to prove that runs leave nothing
 * behind. Elsewhere (no /proc) the answers are `undefined`, and callers skip those checks.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { compiledFile } from '../util/runtime-path.js';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** One-letter state: R running, S sleeping, Z zombie (exited, not yet reaped), ... */
  state: string;
  /** Command line, arguments joined by spaces. */
  cmdline: string;
}

const hasProc = existsSync('/proc/self/stat');

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself hold spaces or parentheses.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, ppid: Number(rest[1]), state: rest[0], cmdline };
  } catch {
    return undefined; // exited while we looked
  }
}

/** Every process whose parent is `ppid` (default: this process); undefined without /proc. */
export function childProcesses(ppid = process.pid): ProcInfo[] | undefined {
  if (!hasProc) return undefined;
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((p): p is ProcInfo => p !== undefined && p.ppid === ppid);
}

/** Open file descriptors of this process; undefined without /proc. */
export function openFdCount(): number | undefined {
  if (!hasProc) return undefined;
  // The listing includes the descriptor readdir itself opened for /proc/self/fd.
  return readdirSync('/proc/self/fd').length - 1;
}

/** Pids of this process's children that run the rank entry (engine/rank.ts): none once a run ends. */
export function rankChildren(): number[] {
  const script = compiledFile('engine/rank.ts');
  return (childProcesses() ?? []).filter((p) => p.cmdline.includes(script)).map((p) => p.pid);
}
