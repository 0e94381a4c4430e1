import { describe, expect, it } from 'vitest';
import { rng } from '../../engine/comm/check-data.js';
import {
  FrameDecoder,
  HEADER_BYTES,
  MsgType,
  encodeHeader,
  fragmentMessage,
  type DecoderLimits,
} from '../../engine/comm/wire.js';

const LIMITS: DecoderLimits = {
  maxMessageBytes: 1 << 20,
  maxControlBytes: 4096,
  allowedTypes: new Set([MsgType.Data, MsgType.Hello]),
};

function collect(limits = LIMITS) {
  const got: { type: MsgType; tag: number; payload: Buffer }[] = [];
  const errors: Error[] = [];
  const d = new FrameDecoder(
    limits,
    (type, tag, payload) => got.push({ type, tag, payload: Buffer.from(payload) }),
    (e) => errors.push(e),
  );
  return { d, got, errors };
}

function encode(type: MsgType, tag: number, payload: Uint8Array, frag: number): Buffer {
  const parts: Buffer[] = [];
  for (const f of fragmentMessage(type, tag, payload, frag))
    parts.push(f.header, Buffer.from(f.body));
  return Buffer.concat(parts);
}

describe('frame decoder', () => {
  it('reassembles fragmented messages split at arbitrary socket-chunk boundaries', () => {
    const r = rng(1);
    const msgs = [0, 1, 19, 20, 21, 4096, 70_000].map((n, i) => ({
      tag: i * 7 + 1,
      payload: Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))),
    }));
    const stream = Buffer.concat(msgs.map((m) => encode(MsgType.Data, m.tag, m.payload, 1000)));
    for (const cut of [1, 3, 20, 999, 65536, stream.length]) {
      const { d, got, errors } = collect();
      for (let off = 0; off < stream.length; off += cut) d.push(stream.subarray(off, off + cut));
      expect(errors).toEqual([]);
      expect(got.map((g) => g.tag)).toEqual(msgs.map((m) => m.tag));
      got.forEach((g, i) => expect(g.payload.equals(msgs[i].payload)).toBe(true));
    }
  });

  it.each([
    ['bad magic', (b: Buffer) => b.writeUInt32BE(0xdeadbeef, 0), /bad magic/],
    ['wrong version', (b: Buffer) => b.writeUInt8(9, 4), /wire version 9/],
    ['type not allowed', (b: Buffer) => b.writeUInt8(MsgType.StoreRequest, 5), /not allowed/],
    ['unknown flags', (b: Buffer) => b.writeUInt16BE(0x8000, 6), /unknown flags/],
    [
      'oversized total',
      (b: Buffer) => b.writeUInt32BE(0xffffffff, 16),
      /exceeds the 1048576-byte limit/,
    ],
    [
      'fragment larger than its message',
      (b: Buffer) => b.writeUInt32BE(50, 12),
      /exceeds its message/,
    ],
  ])('rejects a frame with %s before allocating', (_name, mutate, pattern) => {
    const frame = encode(MsgType.Data, 5, Buffer.alloc(10, 1), 1 << 20);
    mutate(frame);
    const { d, got, errors } = collect();
    d.push(frame);
    d.push(encode(MsgType.Data, 6, Buffer.alloc(3), 100)); // ignored after the error
    expect(got).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(pattern);
  });

  it('caps control messages separately from data', () => {
    const { d, errors } = collect();
    d.push(encodeHeader({ type: MsgType.Hello, flags: 0, tag: 0, length: 5000, total: 5000 }));
    expect(errors[0].message).toMatch(/exceeds the 4096-byte limit/);
  });

  it('rejects a fragment that does not continue the message in progress', () => {
    const a = [...fragmentMessage(MsgType.Data, 1, Buffer.alloc(100), 60)];
    const b = [...fragmentMessage(MsgType.Data, 2, Buffer.alloc(100), 60)];
    const { d, errors } = collect();
    d.push(
      Buffer.concat([a[0].header, Buffer.from(a[0].body), b[1].header, Buffer.from(b[1].body)]),
    );
    expect(errors[0].message).toMatch(/does not continue/);
  });

  it('survives 20000 random and mutated inputs: no throw, no oversize allocation, at most one error', () => {
    const r = rng(42);
    const valid = encode(MsgType.Data, 3, Buffer.alloc(300, 7), 128);
    const limits = { ...LIMITS, maxMessageBytes: 4096 };
    for (let trial = 0; trial < 20_000; trial++) {
      let input: Buffer;
      if (trial % 2 === 0) {
        input = Buffer.from(
          Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)),
        );
      } else {
        input = Buffer.from(valid);
        const flips = 1 + Math.floor(r() * 4);
        for (let k = 0; k < flips; k++)
          input[Math.floor(r() * Math.min(input.length, HEADER_BYTES * 3))] = Math.floor(r() * 256);
      }
      let errors = 0;
      const d = new FrameDecoder(
        limits,
        (_t, _tag, p) => expect(p.length).toBeLessThanOrEqual(4096),
        () => errors++,
      );
      expect(() => {
        for (let off = 0, step = 1; off < input.length; off += step) {
          step = 1 + Math.floor(r() * 40);
          d.push(input.subarray(off, off + step));
        }
      }).not.toThrow();
      expect(errors).toBeLessThanOrEqual(1);
    }
  });
});

describe('abort between fragments', () => {
  it('accepts an Abort that interrupts a fragmented data message and drops the partial message', () => {
    const limits = { ...LIMITS, allowedTypes: new Set([MsgType.Data, MsgType.Abort]) };
    const { d, got, errors } = collect(limits);
    const frags = [...fragmentMessage(MsgType.Data, 9, Buffer.alloc(300, 1), 100)];
    d.push(Buffer.concat([frags[0].header, Buffer.from(frags[0].body)]));
    d.push(encode(MsgType.Abort, 0, Buffer.from('{"rank":2}'), 4096));
    expect(errors).toEqual([]);
    expect(got.map((g) => g.type)).toEqual([MsgType.Abort]);
    // Any other frame type in the middle of a message is still a protocol error.
    const second = collect(limits);
    second.d.push(Buffer.concat([frags[0].header, Buffer.from(frags[0].body)]));
    second.d.push(encode(MsgType.Data, 10, Buffer.alloc(5), 100));
    expect(second.errors[0].message).toMatch(/does not continue/);
  });
});
