import { describe, expect, it } from 'vitest';
import { decodeUtf8, invalidUtf8Offset } from '../../engine/util/text-file.js';

describe('UTF-8 checks of text files', () => {
  it('finds the first invalid byte after multi-byte characters and real U+FFFD characters', () => {
    const good = Buffer.from('é\uFFFD€ ok', 'utf8'); // 2 + 3 + 3 + 3 bytes
    expect(invalidUtf8Offset(good)).toBeUndefined();
    const bad = Buffer.concat([good, Buffer.from([0xc3]), Buffer.from(' more')]);
    expect(invalidUtf8Offset(bad)).toBe(good.length);
    expect(invalidUtf8Offset(Buffer.from([0x80]))).toBe(0);
  });

  it('drops a leading byte-order mark and counts offsets from the file start', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(decodeUtf8(Buffer.concat([bom, Buffer.from('{}')]), 'f')).toBe('{}');
    expect(() => decodeUtf8(Buffer.concat([bom, Buffer.from([0x7b, 0xfe])]), 'file x')).toThrow(
      'file x is not UTF-8 text: byte 4 (0xfe) is not valid UTF-8; save the file as UTF-8',
    );
  });
});
