import { describe, expect, it } from 'vitest';
import type { MethodSummary } from '../../engine/run/metrics.js';
import { parseProfile } from '../../engine/run/profile.js';
import { ratioInterval, splitRepeatKey } from '../../engine/run/repeats.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { byteCeiling, compareToBaseline } from '../../engine/run/summary.js';
import { summaryCsv } from '../../engine/app/csv.js';

const summary = (
  method: string,
  meanStepMs: number,
  over: Partial<MethodSummary> = {},
): MethodSummary => ({
  method,
  label: method,
  status: 'completed',
  steps: 10,
  tokensPerSec: 1,
  meanStepMs,
  meanComputeMs: meanStepMs / 2,
  meanExposedCommMs: meanStepMs / 2,
  meanCommMs: meanStepMs,
  wireBytesPerStep: 100,
  rawBytesPerStep: 100,
  compressionRatio: 1,
  firstLoss: 2,
  finalLoss: 1,
  ...over,
});

describe('interleaved repetitions', () => {
  it('run the whole method list N times in turn, later repetitions keyed <key>@<r>', () => {
    const p = parseProfile({
      name: 'rep',
      repeat: 3,
      baselines: ['fsdp', 'bf16-mp'],
      methods: [{ id: 'tagc', paramComm: 'int8' }],
    });
    expect(resolveMethods(p).map((m) => m.key)).toEqual([
      'fsdp',
      'bf16-mp',
      'tagc+int8',
      'fsdp@2',
      'bf16-mp@2',
      'tagc+int8@2',
      'fsdp@3',
      'bf16-mp@3',
      'tagc+int8@3',
    ]);
    expect(splitRepeatKey('tagc+int8@3')).toEqual({ base: 'tagc+int8', repetition: 3 });
    expect(splitRepeatKey('tagc-2')).toEqual({ base: 'tagc-2', repetition: 1 });
  });

  it('the interval is Student t on log ratios: by hand for 1.0, 1.1, 1.2', () => {
    const r = ratioInterval([1.2, 1.0, 1.1]);
    const logs = [1.0, 1.1, 1.2].map(Math.log);
    const m = logs.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(logs.reduce((a, b) => a + (b - m) ** 2, 0) / 2);
    expect(r.median).toBe(1.1);
    expect(r.low).toBeCloseTo(Math.exp(m - (4.303 * sd) / Math.sqrt(3)), 12);
    expect(r.high).toBeCloseTo(Math.exp(m + (4.303 * sd) / Math.sqrt(3)), 12);
    expect(ratioInterval([1.3]).low).toBeNaN();
  });

  it('pair each repetition with the baseline of the same repetition; the first row carries median and interval', () => {
    const rows = compareToBaseline([
      summary('fsdp', 100),
      summary('tagc', 50),
      summary('fsdp@2', 120),
      summary('tagc@2', 100),
      summary('fsdp@3', 90),
      summary('tagc@3', 60),
    ]);
    const tagc = rows.find((r) => r.method === 'tagc')!;
    const paired = [100 / 50, 120 / 100, 90 / 60];
    expect(tagc.repeats).toBe(3);
    expect(tagc.speedupVsBaseline).toBe(1.5);
    const ci = ratioInterval(paired);
    expect(tagc.speedupCiLow).toBe(ci.low);
    expect(tagc.speedupCiHigh).toBe(ci.high);
    expect(rows.find((r) => r.method === 'tagc@2')!.speedupVsBaseline).toBe(1.2);
    const csv = summaryCsv({
      run: 'r',
      profile: 'p',
      status: 'completed',
      startedAt: '',
      methods: rows,
    });
    const [header, first, second, , later] = csv.split('\r\n').map((l) => l.split(','));
    const col = (name: string): number => header.indexOf(name);
    expect(Number(second[col('speedupCiLow')])).toBe(ci.low);
    expect(first[col('speedupCiLow')]).toBe('1'); // the baseline against itself
    expect(later[col('repeats')]).toBe('');
    expect(Number(second[col('speedupCiHigh')])).toBe(ci.high);
  });

  it('byte ceiling: the baseline step with its exposed communication scaled by bytes', () => {
    const base = summary('fsdp', 100, {
      meanExposedCommMs: 60,
      wireBytesPerStep: 300,
      paramWireBytesPerStep: 600,
    });
    const m = summary('tagc+int8', 80, { wireBytesPerStep: 150, paramWireBytesPerStep: 150 });
    // Compute 40 ms stays; 60 ms of waiting shrinks to 60 * 300 / 900 = 20 ms.
    expect(byteCeiling(base, m)).toBeCloseTo(100 / 60, 12);
    expect(compareToBaseline([base, m])[1].byteCeilingSpeedup).toBeCloseTo(100 / 60, 12);
  });
});

describe('comparison with the baseline', () => {
  it('gives a loss gap only to methods that ran all their steps', () => {
    const out = compareToBaseline([
      summary('fsdp', 100, { finalLoss: 2 }),
      summary('fp16', 80, { finalLoss: 2.2 }),
      summary('topk', 90, { finalLoss: 3, status: 'cancelled', steps: 4 }),
    ]);
    expect(out[1].lossGapVsBaseline).toBeCloseTo(0.1, 12);
    // Stopped at step 4: its loss is from an earlier step than the baseline's, so no gap.
    expect(out[2].lossGapVsBaseline).toBeUndefined();
    expect(out[2].speedupVsBaseline).toBeCloseTo(100 / 90, 12);
  });
});
