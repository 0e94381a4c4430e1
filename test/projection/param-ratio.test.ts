import { describe, expect, it } from 'vitest';
import { createParamCodec, paramCommRatio } from '../../engine/compress/param-codec.js';
import { unitCollectives } from '../../engine/projection/fsdp-plan.js';

describe('projection of compressed parameter gathers', () => {
  const layout = { world: 4, nodes: 2, sharding: 'FULL_SHARD' as const };
  const unit = { numel: 10_000, index: 1, count: 4, tied: false };

  it('scales both gathers of a unit by the format, and leaves the reduction alone', () => {
    const fp32 = unitCollectives(layout, unit, 'fsdp', 1);
    const int8 = unitCollectives(layout, unit, 'fsdp', 1, paramCommRatio('int8'));
    expect(int8.forwardGather!.bytes / fp32.forwardGather!.bytes).toBeCloseTo(0.2539, 3);
    expect(int8.backwardGather!.bytes).toBe(int8.forwardGather!.bytes);
    expect(int8.reduce).toEqual(fp32.reduce);
  });

  it('ratios are the codecs’ own payload sizes', () => {
    expect(paramCommRatio('fp32')).toBe(1);
    expect(paramCommRatio('bf16')).toBe(0.5);
    expect(paramCommRatio('int8')).toBe(createParamCodec('int8')!.payloadBytes(1 << 16) / 2 ** 18);
  });
});
