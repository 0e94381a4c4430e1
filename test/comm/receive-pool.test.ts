import { describe, expect, it } from 'vitest';
import { ReceivePool } from '../../engine/comm/receive-pool.js';

const KiB = 1024;

describe('receive pool', () => {
  it('hands a given-back buffer out again for the same size, and only whole allocations', () => {
    const pool = new ReceivePool(1024 * KiB);
    const a = Buffer.allocUnsafe(128 * KiB);
    pool.give(a);
    expect(pool.take(128 * KiB)).toBe(a);
    expect(pool.take(128 * KiB)).not.toBe(a); // none left: fresh memory
    const parent = Buffer.allocUnsafe(256 * KiB);
    pool.give(parent.subarray(0, 128 * KiB)); // a view: never pooled
    pool.give(Buffer.allocUnsafe(4 * KiB)); // small: never pooled
    expect(pool.take(128 * KiB).buffer).not.toBe(parent.buffer);
  });

  it('makes room for the sizes in use by dropping the ones given back longest ago', () => {
    const pool = new ReceivePool(1024 * KiB);
    const old = Array.from({ length: 4 }, () => Buffer.allocUnsafe(128 * KiB));
    const mid = Buffer.allocUnsafe(256 * KiB);
    old.forEach((b) => pool.give(b)); // 512 KiB pooled
    pool.give(mid); // 768 KiB
    const now = [Buffer.allocUnsafe(512 * KiB), Buffer.allocUnsafe(512 * KiB)];
    now.forEach((b) => pool.give(b)); // the 128 KiB ones go first, then the 256 KiB one
    expect(pool.take(512 * KiB)).toBe(now[1]);
    expect(pool.take(512 * KiB)).toBe(now[0]);
    expect(old).not.toContain(pool.take(128 * KiB));
    expect(pool.take(256 * KiB)).not.toBe(mid);
  });
});
