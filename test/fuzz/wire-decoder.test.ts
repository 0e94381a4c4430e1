/**
 * Randomized wire decoding: streams of valid messages cut into random socket chunks, then
 * truncated, bit-flipped, given oversized length fields, or replaced by random bytes, under the
 * handshake limits and the data limits. The decoder must deliver exactly the intact messages,
 * refuse the rest with one WireError, never throw, and never allocate more than its limits allow.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FLAG_MORE,
  FrameDecoder,
  HEADER_BYTES,
  MsgType,
  WireError,
  encodeHeader,
  fragmentMessage,
  parseControl,
  type DecoderLimits,
} from '../../engine/comm/wire.js';
import { fuzz, forEachCase, type Fuzz } from './fuzz-seed.js';

const DATA_LIMITS: DecoderLimits = {
  maxMessageBytes: 64 * 1024,
  maxControlBytes: 4096,
  allowedTypes: new Set([MsgType.Data, MsgType.StoreRequest, MsgType.Abort]),
};
/** What a link accepts before the handshake: one small Hello. */
const HANDSHAKE_LIMITS: DecoderLimits = {
  maxMessageBytes: 0,
  maxControlBytes: 4096,
  allowedTypes: new Set([MsgType.Hello]),
};

interface Message {
  type: MsgType;
  tag: number;
  payload: Buffer;
}

const capOf = (limits: DecoderLimits, type: MsgType): number =>
  type === MsgType.Data ? limits.maxMessageBytes : limits.maxControlBytes;

function randomMessage(f: Fuzz, limits: DecoderLimits): Message {
  const type = f.pick([...limits.allowedTypes]);
  const size = f.chance(0.2) ? 0 : f.int(Math.min(capOf(limits, type), 3000) + 1);
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = f.int(256);
  return { type, tag: f.int(2 ** 32), payload };
}

/** Encodes messages as frames; returns the stream and where each message ends in it. */
function encodeStream(f: Fuzz, messages: Message[]): { stream: Buffer; ends: number[] } {
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let at = 0;
  for (const m of messages) {
    for (const frame of fragmentMessage(m.type, m.tag, m.payload, 1 + f.int(1500))) {
      parts.push(frame.header, Buffer.from(frame.body));
      at += frame.header.length + frame.body.length;
    }
    ends.push(at);
  }
  return { stream: Buffer.concat(parts), ends };
}

/** Largest buffer the decoder asked for, seen through Buffer.alloc/allocUnsafe while it ran. */
let largestAllocation = 0;
/** The largest over all cases: shows the spy does see the decoder's own buffers. */
let largestEver = 0;
let watching = false;
beforeEach(() => {
  for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow'] as const) {
    const original = Buffer[name].bind(Buffer) as (size: number) => Buffer;
    vi.spyOn(Buffer, name).mockImplementation(((size: number, ...rest: unknown[]) => {
      if (watching) largestAllocation = Math.max(largestAllocation, size);
      return (original as (...a: unknown[]) => Buffer)(size, ...rest);
    }) as never);
  }
});
afterEach(() => vi.restoreAllMocks());

interface Outcome {
  messages: Message[];
  errors: WireError[];
  midMessage: boolean;
}

/** Feeds `stream` in random chunks; what came out, and whether anything escaped as a throw. */
function decode(f: Fuzz, limits: DecoderLimits, stream: Buffer): Outcome {
  const out: Outcome = { messages: [], errors: [], midMessage: false };
  const d = new FrameDecoder(
    limits,
    (type, tag, payload) => {
      // Nothing is delivered after the decoder has failed.
      expect(out.errors).toEqual([]);
      out.messages.push({ type, tag, payload: Buffer.from(payload) });
    },
    (err) => out.errors.push(err),
  );
  largestAllocation = 0;
  watching = true;
  try {
    for (let off = 0; off < stream.length;) {
      const step = f.chance(0.3) ? 1 + f.int(8) : 1 + f.int(4000);
      d.push(stream.subarray(off, off + step));
      off += step;
    }
  } finally {
    watching = false;
  }
  out.midMessage = d.midMessage;
  largestEver = Math.max(largestEver, largestAllocation);
  expect(out.errors.length).toBeLessThanOrEqual(1);
  expect(d.error).toBe(out.errors[0]);
  for (const e of out.errors) {
    expect(e).toBeInstanceOf(WireError);
    expect(e.message.length).toBeGreaterThan(10);
  }
  // Never more than one message's worth beyond the largest message the limits allow.
  expect(largestAllocation).toBeLessThanOrEqual(
    Math.max(limits.maxMessageBytes, limits.maxControlBytes, HEADER_BYTES),
  );
  for (const m of out.messages) {
    expect(limits.allowedTypes.has(m.type)).toBe(true);
    expect(m.payload.length).toBeLessThanOrEqual(capOf(limits, m.type));
  }
  return out;
}

const sameMessages = (got: Message[], want: Message[]): void => {
  expect(got.map((m) => [m.type, m.tag, m.payload.length])).toEqual(
    want.map((m) => [m.type, m.tag, m.payload.length]),
  );
  got.forEach((m, i) => expect(m.payload.equals(want[i].payload)).toBe(true));
};

const show = (b: Buffer): string => `${b.length} bytes: ${b.subarray(0, 96).toString('hex')}`;

describe('wire decoder fuzz', () => {
  it('intact and truncated streams: every whole message exactly, nothing of a cut one', async () => {
    const f = fuzz(11);
    await forEachCase(1500, (i, note) => {
      const limits = i % 5 === 0 ? HANDSHAKE_LIMITS : DATA_LIMITS;
      const messages = Array.from({ length: 1 + f.int(4) }, () => randomMessage(f, limits));
      const { stream, ends } = encodeStream(f, messages);
      const cut = f.chance(0.3) ? stream.length : f.int(stream.length + 1);
      note(`cut at ${cut} of ${show(stream)}`);
      const got = decode(f, limits, stream.subarray(0, cut));
      expect(got.errors).toEqual([]);
      const whole = ends.filter((end) => end <= cut).length;
      sameMessages(got.messages, messages.slice(0, whole));
      // A cut inside a message leaves the decoder waiting for the rest (truncation is detectable).
      expect(got.midMessage).toBe(!ends.includes(cut) && cut !== 0);
    });
    // Messages split across chunks are reassembled into buffers the spy saw.
    expect(largestEver).toBeGreaterThan(1000);
  });

  it('bit flips and oversized length fields: refused with one WireError or delivered within limits', async () => {
    const f = fuzz(12);
    let refused = 0;
    await forEachCase(2500, (i, note) => {
      const limits = i % 4 === 0 ? HANDSHAKE_LIMITS : DATA_LIMITS;
      const messages = Array.from({ length: 1 + f.int(3) }, () => randomMessage(f, limits));
      const { stream } = encodeStream(f, messages);
      const bad = Buffer.from(stream);
      // A header somewhere in the stream: the first one, or one found by scanning.
      const headers: number[] = [];
      for (let off = 0; off + HEADER_BYTES <= bad.length;) {
        headers.push(off);
        off += HEADER_BYTES + bad.readUInt32BE(off + 12);
      }
      const h = f.pick(headers);
      let oversized = false;
      if (i % 2 === 0) {
        for (let k = 1 + f.int(3); k > 0; k--) bad[f.int(bad.length)] ^= 1 << f.int(8);
      } else {
        const field = f.pick([12, 16]);
        const huge = f.pick([
          2 ** 32 - 1,
          2 ** 31,
          0x7fffffff,
          1 << 30,
          capOf(limits, MsgType.Data) + 1,
        ]);
        bad.writeUInt32BE(huge >>> 0, h + field);
        oversized = field === 16 && huge > Math.max(limits.maxMessageBytes, limits.maxControlBytes);
      }
      note(show(bad));
      const got = decode(f, limits, bad);
      if (got.errors.length) refused++;
      if (oversized) {
        expect(got.errors[0]?.message).toMatch(/exceeds the \d+-byte limit/);
      }
    });
    expect(refused).toBeGreaterThan(1000);
  });

  it('random bytes: refused without a throw or a large allocation; control payloads parse or fail clearly', async () => {
    const f = fuzz(13);
    await forEachCase(2500, (i, note) => {
      const limits = i % 2 ? HANDSHAKE_LIMITS : DATA_LIMITS;
      const bytes = Buffer.alloc(f.int(600));
      for (let k = 0; k < bytes.length; k++) bytes[k] = f.int(256);
      // Half start with a plausible header so the later checks are reached, not just the magic.
      if (i % 4 < 2 && bytes.length >= HEADER_BYTES) {
        encodeHeader(
          {
            type: f.pick([...limits.allowedTypes, MsgType.Reject, 0 as MsgType, 255 as MsgType]),
            flags: f.pick([0, FLAG_MORE, 2, 0xffff]),
            tag: f.int(2 ** 32),
            length: f.int(bytes.length),
            total: f.pick([f.int(bytes.length), 2 ** 32 - 1, f.int(5000)]),
          },
          bytes,
        );
      }
      note(show(bytes));
      const got = decode(f, limits, bytes);
      for (const m of got.messages) {
        if (m.type === MsgType.Data) continue;
        try {
          parseControl(m.payload);
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
          expect((e as Error).message).toBe('control message is not valid JSON');
        }
      }
    });
  });
});
