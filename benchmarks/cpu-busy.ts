/**
 * How busy the machine's cores were over a stretch of time, from the kernel's per-core counters
 * (os.cpus()): busy = 1 - idle / total, over all cores. On a box where rank processes outnumber
 * cores, a baseline that keeps the cores ~90 % busy leaves a method that sends fewer bytes at
 * most the idle tenth to win back, whatever it saves on the wire: this figure says which regime
 * a speedup was measured in.
 */
import os from 'node:os';

interface CpuTimes {
  idle: number;
  total: number;
}

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

/** Busy fraction per named stretch: `mark(name)` ends the previous stretch and starts `name`. */
export class CpuBusyMeter {
  private current: { name: string; start: CpuTimes } | undefined;
  readonly busy = new Map<string, number>();

  mark(name?: string): void {
    const now = cpuTimes();
    if (this.current) {
      const f = busyBetween(this.current.start, now);
      if (f !== undefined) this.busy.set(this.current.name, f);
    }
    this.current = name === undefined ? undefined : { name, start: now };
  }
}
