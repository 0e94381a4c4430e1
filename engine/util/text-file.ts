/**
 * Reading a text file from outside safely: only a regular file (a FIFO would block, a device
 * never end), its size checked before a byte is read, a UTF-8 byte-order mark dropped (editors
 * on Windows write one), and bytes that are not UTF-8 refused with the offset of the first one,
 * rather than turned into U+FFFD and reported as an invisible JSON syntax error.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const REPLACEMENT = '\uFFFD';

/** Why a text file was refused; `kind` tells a missing file from one that cannot be used. */
export class TextFileError extends Error {
  override name = 'TextFileError';
  constructor(
    message: string,
    readonly kind: 'missing' | 'unreadable' | 'corrupt',
  ) {
    super(message);
  }
}

/** Byte offset of the first byte sequence that is not UTF-8, or undefined when all of it is. */
export function invalidUtf8Offset(bytes: Uint8Array): number | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  // The decoder puts one U+FFFD where each invalid sequence was; a U+FFFD the file really holds
  // is the three bytes EF BF BD. Walk the replacement characters, counting bytes as we go.
  let byte = 0;
  let char = 0;
  for (let i = text.indexOf(REPLACEMENT); i >= 0; i = text.indexOf(REPLACEMENT, i + 1)) {
    byte += Buffer.byteLength(text.slice(char, i));
    if (!(buf[byte] === 0xef && buf[byte + 1] === 0xbf && buf[byte + 2] === 0xbd)) return byte;
    byte += 3;
    char = i + 1;
  }
  return undefined;
}

/** UTF-8 text of `bytes` without a leading byte-order mark; throws naming the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = body.subarray(0, 3).equals(BOM) ? body.subarray(3) : body;
  const bad = invalidUtf8Offset(text);
  if (bad !== undefined) {
    const at = bad + (text === body ? 0 : BOM.length);
    throw new TextFileError(
      `${source} is not UTF-8 text: byte ${at} (0x${body[at].toString(16).padStart(2, '0')}) is not valid UTF-8; save the file as UTF-8`,
      'corrupt',
    );
  }
  return text.toString('utf8');
}

/**
 * Reads `file` as UTF-8 text: a regular file of at most `maxBytes` (checked before reading).
 * `source` names the file in errors (e.g. `profile /path/x.json`).
 */
export async function readTextFile(
  file: string,
  source: string,
  maxBytes = Number.MAX_SAFE_INTEGER,
): Promise<string> {
  let handle;
  try {
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer forever.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TextFileError(`${source} does not exist`, 'missing');
    throw new TextFileError(`${source} could not be read: ${(e as Error).message}`, 'unreadable');
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new TextFileError(
        `${source} is not a regular file (${info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO' : 'a device or socket'}); give the path of a file`,
        'unreadable',
      );
    if (info.size > maxBytes)
      throw new TextFileError(
        `${source} is ${(info.size / 1024).toFixed(1)} KiB; it may be at most ${(maxBytes / 1024).toFixed(0)} KiB`,
        'unreadable',
      );
    // Read one byte more than allowed: a file that grew since stat() is still caught.
    const limit = Math.min(maxBytes + 1, info.size + 1);
    const buf = Buffer.alloc(limit);
    let n = 0;
    while (n < limit) {
      const { bytesRead } = await handle.read(buf, n, limit - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes)
      throw new TextFileError(
        `${source} is over ${(maxBytes / 1024).toFixed(0)} KiB, the most it may be`,
        'unreadable',
      );
    return decodeUtf8(buf.subarray(0, n), source);
  } finally {
    await handle.close();
  }
}
