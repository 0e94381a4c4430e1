import { describe, expect, it } from 'vitest';
import { methodInfo, parseMethodParams } from '../../engine/compress/registry.js';
import { dgcSparsity } from '../../engine/compress/methods/dgc.js';
import { ErrorFeedback, type ErrorFeedbackMode } from '../../engine/compress/error-feedback.js';
import { gaussian } from '../../engine/util/rng.js';

const compressor = (id: string, params: Record<string, unknown> = {}) =>
  methodInfo(id).create(parseMethodParams(id, params), { world: 4, warmupSteps: 2, gradClip: 1e9 });

describe.each<[string, ErrorFeedbackMode, string]>([
  ['classic EF with top-k', { mode: 'ef' }, 'topk'],
  ['EControl(0.3) with top-k', { mode: 'econtrol', eta: 0.3 }, 'topk'],
  ['classic EF with signSGD', { mode: 'ef' }, 'signsgd'],
  ['EControl(0.7) with int4', { mode: 'econtrol', eta: 0.7 }, 'int4'],
])('%s', (_name, mode, id) => {
  it('over T steps, the sum transmitted equals the sum of inputs minus the final residual', () => {
    const ef = new ErrorFeedback(mode);
    const c = compressor(id, id === 'topk' ? { ratio: 0.05 } : {});
    const n = 2000;
    const g = gaussian(17);
    const sumIn = new Float64Array(n);
    const sumSent = new Float64Array(n);
    for (let t = 0; t < 50; t++) {
      const grad = Float32Array.from({ length: n }, () => g() * 0.01);
      const p = ef.compensate('w', grad);
      const cx = { key: 'w', step: t, rank: 0, sharedSeed: t, localSeed: t };
      const sent = c.decode(c.encode(p, cx), n, cx);
      ef.update('w', grad, p, sent);
      for (let i = 0; i < n; i++) {
        sumIn[i] += grad[i];
        sumSent[i] += sent[i];
      }
    }
    const e = ef.residualOf('w')!;
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(sumSent[i] - (sumIn[i] - e[i])));
    expect(worst).toBeLessThan(1e-5);
    // The residual stays bounded (it does not absorb the whole signal).
    let eNorm = 0;
    let inNorm = 0;
    for (let i = 0; i < n; i++) {
      eNorm += e[i] * e[i];
      inNorm += sumIn[i] * sumIn[i];
    }
    expect(Math.sqrt(eNorm)).toBeLessThan(Math.sqrt(inNorm));
  });
});

describe('error feedback off', () => {
  it('passes the gradient through and keeps no state', () => {
    const ef = new ErrorFeedback({ mode: 'none' });
    const g = Float32Array.of(1, 2, 3);
    expect(ef.compensate('k', g)).toBe(g);
    ef.update('k', g, g, new Float32Array(3));
    expect(ef.residualOf('k')).toBeUndefined();
  });
});

describe('DGC', () => {
  it('warms sparsity up through 75 %, 93.75 %, 98.4375 %, 99.6 % to the final value', () => {
    const o = { sparsity: 0.999, warmupSteps: 8 };
    expect([0, 2, 4, 6, 8, 100].map((s) => dgcSparsity(s, o))).toEqual([
      0.75, 0.9375, 0.984375, 0.996, 0.999, 0.999,
    ]);
  });

  it('clips the local gradient at clipNorm * sqrt(world) (the trainer clips the world mean)', () => {
    const c = methodInfo('dgc').create(
      parseMethodParams('dgc', { sparsity: 0.5, momentum: 0, warmupSteps: 0 }),
      { world: 4, warmupSteps: 0, gradClip: 1 },
    );
    const cx = { key: 'c', step: 0, rank: 0, sharedSeed: 1, localSeed: 2 };
    // 100 values of 5: norm 50, clipped to 1 * sqrt(4) = 2, so each becomes 0.2.
    const big = c.decode(c.encode(new Float32Array(100).fill(5), cx), 100, cx);
    const sentBig = big.filter((v) => v !== 0);
    expect(sentBig).toHaveLength(50);
    for (const v of sentBig) expect(v).toBeCloseTo(0.2, 6);
    // Norm 1.9 (< 2) passes unscaled (a fresh key: no accumulated velocity).
    const small = Float32Array.from({ length: 100 }, () => 0.19);
    const out = c.decode(c.encode(small, { ...cx, key: 'd' }), 100, cx);
    for (const v of out.filter((x) => x !== 0)) expect(v).toBeCloseTo(0.19, 6);
  });

  it('sends the largest accumulated velocities and masks momentum where it sent', () => {
    const c = compressor('dgc', { sparsity: 0.9, momentum: 0.5, warmupSteps: 0 });
    const n = 1000;
    const g = gaussian(3);
    const grad = Float32Array.from({ length: n }, () => g());
    const cx = { key: 'w', step: 10, rank: 0, sharedSeed: 1, localSeed: 2 };
    const first = c.decode(c.encode(grad, cx), n, cx);
    const sent = [...first.keys()].filter((i) => first[i] !== 0);
    expect(sent).toHaveLength(100);
    // Step 2 with zero gradient: momentum u = 0.5 u keeps feeding v everywhere except where masked.
    const second = c.decode(c.encode(new Float32Array(n), { ...cx, step: 11 }), n, cx);
    for (const i of sent) expect(second[i]).toBe(0);
  });
});
