import { describe, expect, it } from 'vitest';
import { catalog } from '../../engine/app/catalog.js';
import { ALL_METHODS, METHODS, findMethod } from '../../engine/compress/registry.js';

const env = { world: 4, warmupSteps: 2, gradClip: 1, ranksPerNode: 2 };

/** Parameter sets whose collective pattern differs from the defaults'. */
const VARIANTS: Record<string, Record<string, unknown>[]> = {
  int8: [{ scale: 'agreed' }],
  int4: [{ scale: 'agreed' }],
};

describe('method registry', () => {
  it('declares for every parameter set the pattern its compressor runs', () => {
    for (const m of METHODS)
      for (const params of [{}, ...(VARIANTS[m.id] ?? [])])
        expect(m.pattern(params), `${m.id} ${JSON.stringify(params)}`).toBe(
          m.create(params, env).pattern,
        );
    expect(findMethod('int8')?.pattern({ scale: 'agreed' })).toBe('rounds');
  });

  it('lists each method once, in its declared order, and the catalog offers every one', () => {
    const ids = ALL_METHODS.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(
      [
        'fp16',
        'bf16',
        'int8',
        'int4',
        'topk',
        'randomk',
        'dgc',
        'powersgd',
        'signsgd',
        'qsgd',
      ].concat(['terngrad', 'qgz', 'lhc', 'tagc', 'optimus-cc']),
    );
    const orders = ALL_METHODS.map((m) => m.order);
    expect(orders).toEqual([...orders].sort((a, b) => a - b));
    expect(new Set(orders).size).toBe(orders.length);
    expect(catalog().methods.map((m) => m.id)).toEqual(ids);
    expect(findMethod('optimus-cc')?.kind).toBe('pipeline');
  });

  it('names the method and field of an invalid parameter', () => {
    expect(() => findMethod('topk')?.pattern({ ratio: 2 })).toThrow(
      /methods\[topk\]\.params\.ratio/,
    );
    const optimus = findMethod('optimus-cc');
    if (optimus?.kind !== 'pipeline') throw new Error('optimus-cc is a pipeline method');
    expect(() => optimus.create({ rank: 0 })).toThrow(/methods\[optimus-cc\]\.params\.rank/);
  });
});
