import { describe, expect, it } from 'vitest';
import {
  partitionUnits,
  pipelineLayout,
  pipelineLayoutProblem,
} from '../../engine/run/pipeline-layout.js';
import { analyzeSchedule, oneFOneB, type PipeOp } from '../../engine/parallel/pipeline-schedule.js';

const text = (ops: PipeOp[]): string => ops.map((o) => `${o.kind}${o.mb}`).join(' ');

const uniform = (S: number, comm = 0.25) => ({
  forwardMs: Array(S).fill(1),
  backwardMs: Array(S).fill(2),
  activationMs: comm,
  gradientMs: comm,
});

describe('1F1B schedule', () => {
  it('warms up S-1-s forwards, alternates, then drains the backwards', () => {
    expect(text(oneFOneB(4, 6, 0))).toBe('F0 F1 F2 F3 B0 F4 B1 F5 B2 B3 B4 B5');
    expect(text(oneFOneB(4, 6, 1))).toBe('F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 B4 B5');
    expect(text(oneFOneB(4, 6, 3))).toBe('F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5');
    // Fewer micro-batches than stages: all forwards, then all backwards.
    expect(text(oneFOneB(4, 2, 0))).toBe('F0 F1 B0 B1');
  });

  it('runs every micro-batch once forward and once backward, forward first, with at most S-s in flight', () => {
    for (const [S, M] of [
      [2, 4],
      [3, 7],
      [5, 5],
    ]) {
      for (let s = 0; s < S; s++) {
        const ops = oneFOneB(S, M, s);
        let inFlight = 0;
        for (const o of ops) {
          inFlight += o.kind === 'F' ? 1 : -1;
          expect(inFlight).toBeGreaterThanOrEqual(0);
          expect(inFlight).toBeLessThanOrEqual(S - s);
        }
        for (let mb = 0; mb < M; mb++) {
          const f = ops.findIndex((o) => o.kind === 'F' && o.mb === mb);
          const b = ops.findIndex((o) => o.kind === 'B' && o.mb === mb);
          expect(f).toBeGreaterThanOrEqual(0);
          expect(b).toBeGreaterThan(f);
        }
        expect(ops).toHaveLength(2 * M);
      }
    }
  });

  it('rejects impossible arguments by name', () => {
    expect(() => oneFOneB(0, 4, 0)).toThrow(/stages must be >= 1/);
    expect(() => oneFOneB(2, 0, 0)).toThrow(/microBatches must be >= 1/);
    expect(() => oneFOneB(2, 4, 2)).toThrow(/stage must be in 0..1/);
  });
});

describe('critical path of the 1F1B schedule', () => {
  it('times respect every dependency and the makespan matches the closed form without comm', () => {
    const S = 4;
    const M = 8;
    const a = analyzeSchedule(S, M, uniform(S, 0));
    // Classic bound: (M + S - 1) * (F + B) for a balanced pipeline without transfer time.
    expect(a.makespan).toBeCloseTo((M + S - 1) * 3, 9);
    for (const stage of a.ops)
      for (let i = 1; i < stage.length; i++)
        expect(stage[i].start).toBeGreaterThanOrEqual(stage[i - 1].end);
    for (const o of a.ops.flat()) {
      expect(o.latestStart).toBeGreaterThanOrEqual(o.start - 1e-9);
      if (o.kind === 'F' && o.stage > 0) {
        const p = a.ops[o.stage - 1].find((x) => x.kind === 'F' && x.mb === o.mb)!;
        expect(o.start).toBeGreaterThanOrEqual(p.end);
      }
    }
    // Bubble per stage = makespan - compute = (S - 1) (F + B).
    for (const b of a.bubbleMs) expect(b).toBeCloseTo((S - 1) * 3, 9);
  });

  it('puts the first and last micro-batch gradients of every boundary on the critical path, not all', () => {
    const S = 4;
    const M = 8;
    const a = analyzeSchedule(S, M, uniform(S));
    for (let b = 0; b < S - 1; b++) {
      const mbs = a.criticalGradients.filter((t) => t.boundary === b).map((t) => t.mb);
      expect(mbs).toContain(0); // the warm-up chain
      expect(mbs).toContain(M - 1); // the cool-down (epilogue) chain
      expect(mbs.length).toBeLessThan(M); // steady-state transfers overlap with compute
    }
    const total = a.criticalGradients.length;
    expect(total).toBeLessThan((S - 1) * M);
  });

  it('delaying a critical transfer lengthens the step by the delay; delaying any other does not', () => {
    const S = 3;
    const M = 6;
    const base = analyzeSchedule(S, M, uniform(S));
    const critical = new Set(base.criticalGradients.map((t) => `${t.boundary}:${t.mb}`));
    const delta = 0.05; // below every slack of the non-critical transfers here
    for (let b = 0; b < S - 1; b++)
      for (let mb = 0; mb < M; mb++) {
        const slower = analyzeSchedule(S, M, {
          ...uniform(S),
          extraGradientMs: (t) => (t.boundary === b && t.mb === mb ? delta : 0),
        });
        const grew = slower.makespan - base.makespan;
        if (critical.has(`${b}:${mb}`)) expect(grew).toBeCloseTo(delta, 9);
        else expect(grew).toBeCloseTo(0, 9);
      }
  });

  it('rejects costs that do not match the stages', () => {
    expect(() => analyzeSchedule(2, 4, { ...uniform(2), forwardMs: [1] })).toThrow(
      /forwardMs needs 2 positive/,
    );
  });
});

describe('pipeline layout', () => {
  it('rank = dp * stages + stage; groups and neighbours follow', () => {
    const l = pipelineLayout(5, 6, 3, 6); // world 6 = 3 stages x 2 replicas
    expect(l).toMatchObject({ stage: 2, dpIndex: 1, dp: 2, prev: 4, next: undefined });
    expect(l.dpGroup).toEqual([2, 5]);
    expect(l.pipeline).toEqual([3, 4, 5]);
  });

  it('cuts units into consecutive runs, embedding first and head last', () => {
    expect(partitionUnits(4, 2)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(partitionUnits(6, 4)).toEqual([[0, 1], [2, 3], [4], [5]]);
    expect(partitionUnits(6, 4).flat()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('names the impossible layouts', () => {
    expect(pipelineLayoutProblem(6, 4, 8)).toMatch(
      /worldSize \(6\) must be divisible by pipelineStages \(4\)/,
    );
    expect(pipelineLayoutProblem(8, 8, 4)).toMatch(/exceeds the model's 4 units .* at most 4/);
    expect(pipelineLayoutProblem(4, 2, 4)).toBeUndefined();
  });
});
