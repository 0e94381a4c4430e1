/**
 * GradBench wire format: every byte between two GradBench processes travels in frames.
 *
 *   offset  size  field
 *   0       4     magic 0x47424e57 ("GBNW"), big-endian
 *   4       1     version (WIRE_VERSION)
 *   5       1     message type (MsgType)
 *   6       2     flags (bit 0: more fragments of this message follow)
 *   8       4     tag (u32; collectives put their sequence number here)
 *   12      4     length of this frame's payload
 *   16      4     total length of the message this frame is a fragment of
 *   20      ...   payload
 *
 * A large message is cut into fragments so emulated links can pace it and the receiver can copy
 * each fragment straight from the socket chunk into one buffer allocated for the whole message
 * (the `total` field), i.e. one copy from kernel to destination and no reassembly copy.
 *
 * The decoder validates every field before it allocates anything: a frame that is malformed,
 * too large, or not allowed in the link's current state is a `WireError`, after which the link is
 * closed. Nothing here throws out of a socket callback.
 */

export const MAGIC = 0x47424e57;
export const WIRE_VERSION = 1;
export const HEADER_BYTES = 20;
export const FLAG_MORE = 1;

export enum MsgType {
  Hello = 1,
  HelloAck = 2,
  Reject = 3,
  Data = 4,
  StoreRequest = 5,
  StoreResponse = 6,
  /** A rank saw a peer fail and tells the others who, so every error names the root cause. */
  Abort = 7,
}

export interface FrameHeader {
  type: MsgType;
  flags: number;
  tag: number;
  length: number;
  total: number;
}

export class WireError extends Error {
  override name = 'WireError';
}

export interface DecoderLimits {
  /** Largest whole message accepted (bytes). */
  maxMessageBytes: number;
  /** Message types accepted right now; the handshake narrows this to Hello only. */
  allowedTypes: ReadonlySet<MsgType>;
  /** Largest message accepted for types other than Data (control messages are small JSON). */
  maxControlBytes: number;
}

export function encodeHeader(
  h: FrameHeader,
  out: Buffer = Buffer.allocUnsafe(HEADER_BYTES),
): Buffer {
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt8(WIRE_VERSION, 4);
  out.writeUInt8(h.type, 5);
  out.writeUInt16BE(h.flags, 6);
  out.writeUInt32BE(h.tag >>> 0, 8);
  out.writeUInt32BE(h.length, 12);
  out.writeUInt32BE(h.total, 16);
  return out;
}

/** Frames for one whole message, cut into fragments of at most `fragmentBytes` payload. */
export function* fragmentMessage(
  type: MsgType,
  tag: number,
  payload: Uint8Array,
  fragmentBytes: number,
): Generator<{ header: Buffer; body: Uint8Array }> {
  const total = payload.byteLength;
  let off = 0;
  do {
    const len = Math.min(fragmentBytes, total - off);
    const more = off + len < total;
    const header = encodeHeader({ type, flags: more ? FLAG_MORE : 0, tag, length: len, total });
    yield { header, body: payload.subarray(off, off + len) };
    off += len;
  } while (off < total);
}

export type MessageHandler = (type: MsgType, tag: number, payload: Buffer) => void;

/**
 * Incremental frame decoder: feed it socket chunks, it emits whole messages.
 * After the first error it ignores all further input (the caller closes the link).
 */
export class FrameDecoder {
  private header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private current: FrameHeader | undefined;
  private frameLeft = 0;
  private inMessage = false;
  private message: Buffer | undefined; // allocated lazily: a message inside one chunk is a view
  private messageTotal = 0;
  private messageFill = 0;
  private messageTag = 0;
  private messageType: MsgType | undefined;
  private failed: WireError | undefined;

  constructor(
    public limits: DecoderLimits,
    private readonly onMessage: MessageHandler,
    private readonly onError: (err: WireError) => void,
    /**
     * Optional destination for a message, asked once its first header is validated; lets the
     * receiver place the bytes where they are needed without a second copy. Must return exactly
     * `total` bytes or undefined.
     */
    private readonly allocate?: (type: MsgType, tag: number, total: number) => Buffer | undefined,
  ) {}

  get error(): WireError | undefined {
    return this.failed;
  }

  /** True while a message is partially received (used to detect truncation at close). */
  get midMessage(): boolean {
    return this.headerFill > 0 || this.inMessage;
  }

  /**
   * Set when the caller reuses its chunk buffers between pushes (reads into one scratch buffer):
   * a message may then never be a view of a chunk.
   */
  reusedChunks = false;

  /**
   * Where the next socket read should go: the unfilled rest of the current frame inside its
   * message buffer (so the kernel writes the payload in place), or undefined between frames.
   */
  readTarget(): Uint8Array | undefined {
    if (!this.current || this.frameLeft === 0 || this.failed) return undefined;
    if (!this.message) this.message = this.destination(undefined, 0, 0);
    return this.message.subarray(this.messageFill, this.messageFill + this.frameLeft);
  }

  private destination(chunk: Buffer | undefined, off: number, take: number): Buffer {
    const dest = this.allocate?.(this.messageType!, this.messageTag, this.messageTotal);
    if (dest && dest.length === this.messageTotal) return dest;
    // The whole message sits inside this socket chunk: hand out a view, no copy.
    if (chunk && !this.reusedChunks && take === this.messageTotal)
      return chunk.subarray(off, off + take);
    return Buffer.allocUnsafe(this.messageTotal);
  }

  /**
   * Set by a message handler to stop decoding right after the message it is handling: `push`
   * then returns how far it got, and the bytes after that belong to whoever reads next.
   */
  stopped = false;

  /** Decodes `chunk`; returns the bytes consumed (all of them unless a handler set `stopped`). */
  push(chunk: Buffer): number {
    let off = 0;
    while (off < chunk.length && !this.failed && !this.stopped) {
      if (!this.current) {
        const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + take);
        this.headerFill += take;
        off += take;
        if (this.headerFill < HEADER_BYTES) return off;
        this.headerFill = 0;
        const h = this.parseHeader(this.header);
        if (!h) return off;
        this.current = h;
        this.frameLeft = h.length;
        if (h.length === 0) this.finishFrame();
        continue;
      }
      const take = Math.min(this.frameLeft, chunk.length - off);
      if (!this.message) this.message = this.destination(chunk, off, take);
      // Bytes read straight into place (see readTarget) need no copy.
      if (
        this.message.buffer !== chunk.buffer ||
        this.message.byteOffset + this.messageFill !== chunk.byteOffset + off
      ) {
        chunk.copy(this.message, this.messageFill, off, off + take);
      }
      this.messageFill += take;
      this.frameLeft -= take;
      off += take;
      if (this.frameLeft === 0) this.finishFrame();
    }
    return off;
  }

  private fail(msg: string): undefined {
    this.failed = new WireError(msg);
    this.onError(this.failed);
    return undefined;
  }

  private parseHeader(b: Buffer): FrameHeader | undefined {
    const magic = b.readUInt32BE(0);
    if (magic !== MAGIC)
      return this.fail(`bad magic 0x${magic.toString(16).padStart(8, '0')}: not a GradBench peer`);
    const version = b.readUInt8(4);
    if (version !== WIRE_VERSION) {
      return this.fail(
        `wire version ${version} is not supported (this build speaks ${WIRE_VERSION})`,
      );
    }
    const type = b.readUInt8(5) as MsgType;
    if (!this.limits.allowedTypes.has(type))
      return this.fail(`message type ${type} not allowed here`);
    const flags = b.readUInt16BE(6);
    if ((flags & ~FLAG_MORE) !== 0) return this.fail(`unknown flags 0x${flags.toString(16)}`);
    const tag = b.readUInt32BE(8);
    const length = b.readUInt32BE(12);
    const total = b.readUInt32BE(16);
    const cap = type === MsgType.Data ? this.limits.maxMessageBytes : this.limits.maxControlBytes;
    if (total > cap) return this.fail(`message of ${total} bytes exceeds the ${cap}-byte limit`);
    if (this.inMessage && type === MsgType.Abort && this.messageType !== MsgType.Abort) {
      // A failing peer writes Abort at once, ahead of its paced queue, so it can arrive between
      // two fragments of a data message. The mesh is over: drop the partial message, read the Abort.
      this.inMessage = false;
      this.message = undefined;
      this.messageFill = 0;
      this.messageType = undefined;
    }
    if (!this.inMessage) {
      if (length > total)
        return this.fail(`fragment of ${length} bytes exceeds its message (${total})`);
      this.inMessage = true;
      this.message = undefined;
      this.messageTotal = total;
      this.messageFill = 0;
      this.messageTag = tag;
      this.messageType = type;
    } else if (
      tag !== this.messageTag ||
      type !== this.messageType ||
      total !== this.messageTotal
    ) {
      return this.fail('fragment does not continue the message in progress');
    }
    if (length > this.messageTotal - this.messageFill) {
      return this.fail(`fragment overruns its message (${this.messageFill}+${length} > ${total})`);
    }
    const more = (flags & FLAG_MORE) !== 0;
    if (!more && this.messageFill + length !== total) {
      return this.fail(
        `last fragment leaves the message short (${this.messageFill + length} of ${total})`,
      );
    }
    return { type, flags, tag, length, total };
  }

  private finishFrame(): void {
    const h = this.current!;
    this.current = undefined;
    if ((h.flags & FLAG_MORE) !== 0) return;
    const msg = this.message ?? Buffer.alloc(0);
    const type = this.messageType!;
    this.inMessage = false;
    this.message = undefined;
    this.messageType = undefined;
    this.messageFill = 0;
    this.onMessage(type, h.tag, msg);
  }
}

/** Encodes a small JSON control message as one frame (header + body in a single buffer). */
export function encodeControl(type: MsgType, tag: number, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + json.length);
  encodeHeader({ type, flags: 0, tag, length: json.length, total: json.length }, out);
  json.copy(out, HEADER_BYTES);
  return out;
}

export function parseControl(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new WireError('control message is not valid JSON');
  }
}
