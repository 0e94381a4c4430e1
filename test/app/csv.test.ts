import { describe, expect, it } from 'vitest';
import {
  STEPS_CSV_COLUMNS,
  SUMMARY_CSV_COLUMNS,
  csvField,
  csvNumber,
  stepsCsv,
  summaryCsv,
  toCsv,
} from '../../engine/app/csv.js';
import { MethodSummarySchema } from '../../engine/run/metrics.js';
import { parseCsv } from './helpers.js';
import { methodSummary, metric, runSummary } from './fixtures.js';

describe('CSV fields (RFC 4180)', () => {
  it('quotes fields holding a comma, a quote, CR or LF, doubling inner quotes', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('"')).toBe('""""');
    expect(csvField('')).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(null)).toBe('');
    expect(csvField(true)).toBe('true');
  });

  it("writes numbers with '.' decimals, no grouping, no exponent", () => {
    expect(csvNumber(1234567.25)).toBe('1234567.25');
    expect(csvNumber(-0.5)).toBe('-0.5');
    expect(csvNumber(1e-7)).toBe('0.0000001');
    expect(csvNumber(-2.5e-8)).toBe('-0.000000025');
    expect(csvNumber(1.5e21)).toBe('1500000000000000000000');
    expect(csvNumber(1.2345e22)).toBe('12345000000000000000000');
    expect(csvNumber(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991');
    for (const x of [1e-7, -2.5e-8, 1.5e21, 3.14159e-12, 123.456])
      expect(Number(csvNumber(x))).toBe(x);
    expect(csvNumber(NaN)).toBe('');
    expect(csvNumber(Infinity)).toBe('');
  });

  it('ends every line with CRLF and round-trips awkward text', () => {
    const awkward = ['a,b', 'q"uote', 'multi\r\nline', ' spaced ', ''];
    const text = toCsv(['x', 'y', 'z', 'w', 'v'], [awkward]);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.split('\r\n')[0]).toBe('x,y,z,w,v');
    expect(parseCsv(text)).toEqual([['x', 'y', 'z', 'w', 'v'], awkward]);
  });
});

describe('stepsCsv', () => {
  // Two methods x two steps x two ranks, out of order, as ranks append concurrently.
  const lines = [
    metric({
      method: 'top,k "1%"',
      step: 1,
      rank: 1,
      loss: 3.0,
      stepMs: 30,
      wireBytes: 7,
      relError: 0.25,
    }),
    metric({
      method: 'fsdp',
      step: 1,
      rank: 0,
      loss: 3.5,
      computeMs: 9,
      stepMs: 20,
      rawBytes: 400,
      wireBytes: 400,
    }),
    metric({
      method: 'fsdp',
      step: 0,
      rank: 1,
      loss: 4.25,
      computeMs: 11,
      exposedCommMs: 3,
      commMs: 6,
      stepMs: 21.5,
      rawBytes: 500,
      wireBytes: 500,
      tokens: 128,
      lr: 0.001,
    }),
    metric({
      method: 'fsdp',
      step: 0,
      rank: 0,
      loss: 4.75,
      computeMs: 10,
      exposedCommMs: 1,
      commMs: 4,
      stepMs: 20,
      rawBytes: 500,
      wireBytes: 500,
      tokens: 128,
      lr: 0.001,
    }),
    metric({
      method: 'fsdp',
      step: 1,
      rank: 1,
      loss: 3.25,
      computeMs: 12,
      stepMs: 25,
      rawBytes: 400,
      wireBytes: 400,
    }),
    metric({
      method: 'top,k "1%"',
      step: 0,
      rank: 0,
      encodeMs: 1,
      decodeMs: 3,
      wireBytes: 9,
      relError: 0.5,
    }),
    metric({
      method: 'top,k "1%"',
      step: 0,
      rank: 1,
      encodeMs: 2,
      decodeMs: 5,
      wireBytes: 11,
      relError: 0.3,
    }),
    metric({ method: 'top,k "1%"', step: 1, rank: 0, loss: 2.0, stepMs: 40, wireBytes: 5 }),
  ];
  const rows = parseCsv(stepsCsv(lines));
  const header = rows[0];
  const records = rows.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));

  it('has a header and one row per (method, step), steps numbered from 1 as in the CLI and charts', () => {
    expect(header).toEqual([...STEPS_CSV_COLUMNS]);
    expect(records.map((r) => [r.method, r.step])).toEqual([
      ['top,k "1%"', '1'],
      ['top,k "1%"', '2'],
      ['fsdp', '1'],
      ['fsdp', '2'],
    ]);
    expect(records.every((r) => r.ranks === '2')).toBe(true);
  });

  it('means loss and times, takes the slowest step, sums bytes and tokens', () => {
    const f0 = records[2];
    expect(Number(f0.loss)).toBeCloseTo(4.5, 12);
    expect(Number(f0.computeMs)).toBeCloseTo(10.5, 12);
    expect(Number(f0.exposedCommMs)).toBeCloseTo(2, 12);
    expect(Number(f0.commMs)).toBeCloseTo(5, 12);
    expect(Number(f0.stepMs)).toBe(21.5);
    expect(Number(f0.rawBytes)).toBe(1000);
    expect(Number(f0.wireBytes)).toBe(1000);
    expect(Number(f0.tokens)).toBe(256);
    expect(Number(f0.lr)).toBe(0.001);
    expect(f0.relError).toBe('');
    expect(f0.gradNorm).toBe('');
    expect(f0.backend).toBe('wasm');

    const f1 = records[3];
    expect(Number(f1.loss)).toBeCloseTo(3.375, 12);
    expect(Number(f1.stepMs)).toBe(25);
    expect(Number(f1.wireBytes)).toBe(800);
  });

  it('averages relError over the ranks that report it', () => {
    const t0 = records[0];
    expect(Number(t0.relError)).toBeCloseTo(0.4, 12);
    expect(Number(t0.encodeMs)).toBeCloseTo(1.5, 12);
    expect(Number(t0.decodeMs)).toBeCloseTo(4, 12);
    expect(Number(t0.wireBytes)).toBe(20);
    const t1 = records[1];
    expect(Number(t1.relError)).toBe(0.25); // only rank 1 sampled it at step 1
    expect(Number(t1.loss)).toBeCloseTo(2.5, 12);
    expect(Number(t1.stepMs)).toBe(40);
  });

  it('writes only a header for no metrics', () => {
    expect(stepsCsv([])).toBe(`${STEPS_CSV_COLUMNS.join(',')}\r\n`);
  });
});

describe('summaryCsv', () => {
  it('writes one row per method with every MethodSummary field', () => {
    const summary = runSummary('20261125-120301-default-ab12', [
      methodSummary({ method: 'fsdp', label: 'FSDP (fp32)', speedupVsBaseline: 1 }),
      methodSummary({
        method: 'topk',
        label: 'top-k, 1%',
        status: 'failed',
        compressionRatio: 98.5,
        error: 'rank 1: "boom"\nat step 3',
      }),
    ]);
    const rows = parseCsv(summaryCsv(summary));
    expect(rows[0]).toEqual([...SUMMARY_CSV_COLUMNS]);
    // Every field in schema order; the final loss's header says what it is.
    expect(rows[0].slice(2)).toEqual(
      Object.keys(MethodSummarySchema.shape).map((f) =>
        f === 'finalLoss' ? 'finalLoss (mean of the last 5 steps)' : f,
      ),
    );
    const rec = rows.slice(1).map((r) => Object.fromEntries(rows[0].map((h, i) => [h, r[i]])));
    expect(rec).toHaveLength(2);
    expect(rec[0]).toMatchObject({
      run: summary.run,
      profile: 'default',
      method: 'fsdp',
      label: 'FSDP (fp32)',
      speedupVsBaseline: '1',
      error: '',
    });
    expect(rec[1]).toMatchObject({
      method: 'topk',
      label: 'top-k, 1%',
      status: 'failed',
      compressionRatio: '98.5',
      speedupVsBaseline: '',
      error: 'rank 1: "boom"\nat step 3',
    });
    expect(Number(rec[1].meanStepMs)).toBe(12);
  });

  it('leaves the cells of figures a method does not have empty, never null or NaN', () => {
    const summary = runSummary('20261125-120301-default-ab12', [
      { method: 'fsdp', label: 'FSDP (fp32)', status: 'failed', steps: 0, error: 'rank 1 died' },
      { method: 'int8', label: 'int8', status: 'not started', steps: 0 },
    ]);
    const text = summaryCsv(summary);
    expect(text).not.toMatch(/null|NaN|undefined/);
    const rows = parseCsv(text);
    const rec = rows.slice(1).map((r) => Object.fromEntries(rows[0].map((h, i) => [h, r[i]])));
    expect(rec.map((r) => [r.method, r.status, r.steps, r.meanStepMs])).toEqual([
      ['fsdp', 'failed', '0', ''],
      ['int8', 'not started', '0', ''],
    ]);
  });
});
