import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatNumber, table } from '../../engine/util/format.js';

describe('format', () => {
  it('formats byte counts in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(1048575)).toBe('1 MiB');
    expect(formatBytes(80 * 2 ** 30)).toBe('80 GiB');
    expect(formatBytes(123.4 * 2 ** 20)).toBe('123 MiB');
    expect(formatBytes(undefined)).toBe('-');
  });

  it('formats durations from sub-millisecond to hours', () => {
    expect(formatDuration(0.42)).toBe('0.42 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(12_345)).toBe('12.3 s');
    expect(formatDuration(59_999)).toBe('1 min 00 s');
    expect(formatDuration(245_000)).toBe('4 min 05 s');
    expect(formatDuration(3_720_000)).toBe('1 h 02 min');
  });

  it('formats numbers without trailing zeros', () => {
    expect(formatNumber(2.5)).toBe('2.5');
    expect(formatNumber(1 / 3, 2)).toBe('0.33');
    expect(formatNumber(NaN)).toBe('-');
  });

  it('aligns table columns and cuts long cells', () => {
    const t = table(
      ['NAME', 'N'],
      [
        ['alpha', '1'],
        ['b', '1000'],
        ['x'.repeat(12), '2'],
      ],
      { align: ['l', 'r'], maxWidth: 8 },
    );
    expect(t.split('\n')).toEqual([
      'NAME         N',
      '--------  ----',
      'alpha        1',
      'b         1000',
      'xxxxxxx…     2',
    ]);
  });
});
