import { describe, expect, it } from 'vitest';
import type { MetricLine } from '../../engine/run/metrics.js';
import { parseProfile } from '../../engine/run/profile.js';
import { resolveMethods } from '../../engine/run/run-config.js';
import { summarizeMethod } from '../../engine/run/summary.js';

describe('methods of a run', () => {
  it('repeated method ids get distinct keys, and each summary reads only its own metrics', () => {
    const methods = resolveMethods(
      parseProfile({
        name: 'dup',
        methods: [{ id: 'tagc' }, { id: 'tagc', label: 'all', params: { compressAll: true } }],
      }),
    );
    expect(methods.map((m) => m.key)).toEqual(['fsdp', 'tagc', 'tagc-2']);
    const line = (method: string, wireBytes: number): MetricLine => ({
      run: 'r',
      method,
      step: 0,
      rank: 0,
      loss: 1,
      computeMs: 1,
      exposedCommMs: 0,
      commMs: 0,
      encodeMs: 0,
      decodeMs: 0,
      stepMs: 1,
      rawBytes: 100,
      wireBytes,
      tokens: 1,
      backend: 'cpu',
    });
    const lines = [line('tagc', 50), line('tagc-2', 80)];
    expect(summarizeMethod(methods[1], lines, 'completed').wireBytesPerStep).toBe(50);
    expect(summarizeMethod(methods[2], lines, 'completed').wireBytesPerStep).toBe(80);
  });

  it('repeated methods without their own labels get distinct labels', () => {
    const methods = resolveMethods(
      parseProfile({
        name: 'dup',
        methods: [{ id: 'tagc' }, { id: 'tagc' }, { id: 'int8', label: 'tagc' }, { id: 'fp16' }],
      }),
    );
    expect(methods.map((m) => m.label)).toEqual([
      'FSDP (fp32)',
      'tagc',
      'tagc #2',
      'tagc #3',
      'fp16',
    ]);
  });
});
