import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { busyBetween, CpuBusyMeter } from '../../benchmarks/cpu-busy.js';

describe('CPU busy meter', () => {
  it('is the share of core time that was not idle between two readings', () => {
    expect(busyBetween({ idle: 100, total: 400 }, { idle: 130, total: 600 })).toBeCloseTo(0.85);
    expect(busyBetween({ idle: 5, total: 10 }, { idle: 5, total: 10 })).toBeUndefined();
  });

  it('sees a busy loop on this machine as more than idle time, stretch by stretch', () => {
    const meter = new CpuBusyMeter();
    meter.mark('spin');
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    meter.mark();
    const busy = meter.busy.get('spin');
    expect(x).toBeGreaterThan(0);
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(1);
    // One spinning thread keeps a core busy: at least about 1 / cores of the machine's time.
    expect(busy!).toBeGreaterThan(0.5 / os.cpus().length);
  });
});
