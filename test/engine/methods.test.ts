import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runProfile, tempHome } from '../helpers/runs.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

describe('compression methods inside real 4-rank FSDP training', () => {
  it('a representative subset trains close to the FSDP baseline, with bytes and errors in the metrics', async () => {
    const r = await runProfile(
      {
        name: 'methods-subset',
        model: { preset: 'nano' },
        train: { steps: 60, batchPerRank: 4, lr: 6e-3 },
        parallel: { worldSize: 4 },
        methods: [
          { id: 'fp16' },
          { id: 'int8' },
          { id: 'powersgd' },
          { id: 'qsgd' },
          { id: 'terngrad' },
          { id: 'topk', params: { ratio: 0.1 } },
        ],
      },
      home,
    );
    expect(r.summary.status, r.summary.error).toBe('completed');
    const by = new Map(r.summary.methods.map((m) => [m.method, m]));
    const base = by.get('fsdp')!;
    for (const [id, tol] of [
      ['fp16', 0.1],
      ['int8', 0.1],
      ['powersgd', 0.1],
      ['qsgd', 0.1],
      ['topk', 0.1],
      ['terngrad', 0.2],
    ] as const) {
      const m = by.get(id)!;
      expect(m.status).toBe('completed');
      expect(
        Math.abs(m.finalLoss - base.finalLoss) / base.finalLoss,
        `${id} final loss ${m.finalLoss} vs ${base.finalLoss}`,
      ).toBeLessThan(tol);
      expect(m.wireBytesPerStep, id).toBeLessThan(base.wireBytesPerStep);
      expect(m.speedupVsBaseline).toBeGreaterThan(0);
    }
    expect(by.get('fp16')!.compressionRatio).toBeCloseTo(2, 1);
    const lines = readFileSync(path.join(r.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const probed = lines.filter((l) => l.method === 'topk' && l.relError !== undefined);
    expect(probed.length).toBeGreaterThan(0);
    for (const l of probed) expect(l.relError).toBeGreaterThan(0);
    const fp16Err = lines
      .filter((l) => l.method === 'fp16' && l.relError !== undefined)
      .map((l) => l.relError);
    for (const e of fp16Err) expect(e).toBeLessThan(1e-2);
    expect(
      lines.filter((l) => l.method === 'int8').every((l) => l.encodeMs >= 0 && l.decodeMs > 0),
    ).toBe(true);
  }, 300_000);
});
