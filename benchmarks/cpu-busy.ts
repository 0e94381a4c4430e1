/**
 * How busy the machine's cores were over a stretch of time, from the kernel's per-core counters
 * (os.cpus()): busy = 1 - idle / total, over all cores. On a box where rank processes outnumber
 * cores, a baseline that keeps the cores ~90 % busy leaves a method that sends fewer bytes at
 * most the idle tenth to win back, whatever it saves on the wire: this figure says which regime
 * a speedup was measured in.
 */
import { busyBetween, cpuTimes } from '../engine/app/cpu-load.js';

export { busyBetween, cpuTimes };

/** Busy fraction per named stretch: `mark(name)` ends the previous stretch and starts `name`. */
export class CpuBusyMeter {
  private current: { name: string; start: ReturnType<typeof cpuTimes> } | undefined;
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
