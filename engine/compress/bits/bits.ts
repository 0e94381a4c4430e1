/** Byte layouts shared by the payload formats: little-endian sections in one buffer. */

/** Concatenates typed-array sections into one payload (copies once). */
export function pack(...sections: ArrayBufferView[]): Uint8Array {
  const total = sections.reduce((a, s) => a + s.byteLength, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const s of sections) {
    out.set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength), off);
    off += s.byteLength;
  }
  return out;
}

/**
 * A copy of `bytes[start, end)` in its own ArrayBuffer. Received payloads may be Node Buffers,
 * whose `slice` is a view and whose `buffer` is a shared pool: `payload.slice().buffer` would read
 * someone else's bytes.
 */
export function ownBytes(bytes: Uint8Array, start = 0, end = bytes.byteLength): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes, start, end);
}

/** Reads consecutive sections back (copying into aligned arrays). */
export class Reader {
  private off = 0;
  constructor(private readonly bytes: Uint8Array) {}

  private take(n: number): Uint8Array {
    if (this.off + n > this.bytes.byteLength)
      throw new Error(
        `payload too short: need ${this.off + n} bytes, have ${this.bytes.byteLength}`,
      );
    const out = ownBytes(this.bytes, this.off, this.off + n);
    this.off += n;
    return out;
  }

  f32(n: number): Float32Array {
    return new Float32Array(this.take(n * 4).buffer);
  }
  u32(n: number): Uint32Array {
    return new Uint32Array(this.take(n * 4).buffer);
  }
  i8(n: number): Int8Array {
    return new Int8Array(this.take(n).buffer);
  }
  u8(n: number): Uint8Array {
    return this.take(n);
  }
}

/** Packs small unsigned codes of `bits` bits (1, 2 or 4) into bytes. */
export function packCodes(codes: Uint8Array, bits: 1 | 2 | 4): Uint8Array {
  const per = 8 / bits;
  const out = new Uint8Array(Math.ceil(codes.length / per));
  for (let i = 0; i < codes.length; i++) out[(i / per) | 0] |= codes[i] << ((i % per) * bits);
  return out;
}

export function unpackCodes(packed: Uint8Array, n: number, bits: 1 | 2 | 4): Uint8Array {
  const per = 8 / bits;
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (packed[(i / per) | 0] >> ((i % per) * bits)) & mask;
  return out;
}

export const packedBytes = (n: number, bits: number): number => Math.ceil((n * bits) / 8);

/** Number of blocks of `block` elements covering n. */
export const blockCount = (n: number, block: number): number => Math.ceil(n / block);
