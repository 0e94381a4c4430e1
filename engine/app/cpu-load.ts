/**
 * How much of the machine other processes took while a method ran. A method's step time on a
 * shared box depends on what else runs there: the same profile measured top-k at 0.71x and at
 * 1.05x on one 2-core machine, with identical losses. The launcher records this figure in each
 * method's summary so that the pages and the CLI can say when a timing was taken under load.
 *
 * other = (busy core time of the machine - the ranks' CPU time - this process's CPU time)
 *         / all core time, over the stretch from spawning the ranks to their exit.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { MethodSummary } from '../run/metrics.js';

interface CpuTimes {
  /** Milliseconds of core time spent idle, and in all, summed over the cores. */
  idle: number;
  total: number;
}

/** The kernel's per-core counters (os.cpus()), summed. */
export function cpuTimes(): CpuTimes {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

/** Fraction of core time spent busy between two readings (undefined when no time passed). */
export function busyBetween(a: CpuTimes, b: CpuTimes): number | undefined {
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : undefined;
}

/** Linux reports process times in clock ticks of 1/100 s (USER_HZ) on every common platform. */
const MS_PER_TICK = 10;

/** User + system CPU time of a live process in ms, from /proc; undefined where that is not readable. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    return Number.isFinite(ticks) ? ticks * MS_PER_TICK : undefined;
  } catch {
    return undefined;
  }
}

/** The load figures a method summary carries. */
export type MethodLoad = Pick<MethodSummary, 'otherCpuShare' | 'loadAverage'>;

/**
 * Follows one method: `start()` before spawning its ranks, `sample(pids)` now and then while they
 * run (a process's times vanish with it, so the last reading before its exit is what counts),
 * `finish()` after they exit.
 */
export class MethodLoadMeter {
  private machine = cpuTimes();
  private own = process.cpuUsage();
  private readonly ranksMs = new Map<number, number>();

  start(): void {
    this.machine = cpuTimes();
    this.own = process.cpuUsage();
    this.ranksMs.clear();
  }

  sample(pids: number[]): void {
    for (const pid of pids) {
      // A rank that exited between samples keeps its last reading.
      const ms = processCpuMs(pid);
      if (ms !== undefined) this.ranksMs.set(pid, ms);
    }
  }

  finish(): MethodLoad {
    const now = cpuTimes();
    const total = now.total - this.machine.total;
    const busy = total - (now.idle - this.machine.idle);
    const ownUs = process.cpuUsage(this.own);
    const ours =
      [...this.ranksMs.values()].reduce((a, b) => a + b, 0) + (ownUs.user + ownUs.system) / 1000;
    // os.loadavg() is always [0, 0, 0] on Windows: no figure rather than a false calm.
    const load = os.platform() === 'win32' ? undefined : os.loadavg()[0];
    return {
      // No rank ever read (no /proc): the ranks' own time cannot be told from the others'.
      ...(this.ranksMs.size > 0 && total > 0
        ? { otherCpuShare: Math.min(1, Math.max(0, (busy - ours) / total)) }
        : {}),
      ...(load !== undefined ? { loadAverage: load } : {}),
    };
  }
}
