/**
 * One authenticated, framed TCP connection between two GradBench processes.
 *
 * Every connection starts with a handshake: the connecting side sends `Hello {token, rank, role}`
 * and the accepting side answers `HelloAck` or `Reject {reason}` and closes. Until the handshake
 * completes only a single small Hello frame is accepted, so an unauthenticated peer can neither
 * make us allocate more than a few KiB nor hold the socket open past the handshake timeout.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net, { type Socket } from 'node:net';
import { Pacer, type LinkSpec } from './emulation.js';
import {
  FrameDecoder,
  MsgType,
  encodeControl,
  fragmentMessage,
  parseControl,
  type DecoderLimits,
} from './wire.js';

export const MAX_CONTROL_BYTES = 4096;
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 30;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export type LinkRole = 'mesh' | 'store';

export interface Hello {
  token: string;
  rank: number;
  role: LinkRole;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compares tokens in constant time (hashing first makes the lengths equal). */
export function tokenMatches(expected: string, got: unknown): boolean {
  return typeof got === 'string' && timingSafeEqual(digest(expected), digest(got));
}

function handshakeLimits(): DecoderLimits {
  return {
    maxMessageBytes: 0,
    maxControlBytes: MAX_CONTROL_BYTES,
    allowedTypes: new Set([MsgType.Hello]),
  };
}

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

/**
 * Accepting side. Resolves with the peer's Hello once `accept` approved it (and HelloAck is sent);
 * on any failure sends Reject when it can, destroys the socket and rejects.
 */
export function acceptHandshake(
  socket: Socket,
  accept: (hello: Hello) => string | undefined, // returns a rejection reason, or undefined to accept
  timeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS,
): Promise<Hello> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: Error, hello?: Hello): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        if (!socket.destroyed)
          socket.end(encodeControl(MsgType.Reject, 0, { reason: err.message }));
        setTimeout(() => socket.destroy(), 200).unref();
        reject(err);
      } else {
        socket.write(encodeControl(MsgType.HelloAck, 0, {}));
        resolve(hello!);
      }
    };
    const decoder = new FrameDecoder(
      handshakeLimits(),
      (_type, _tag, payload) => {
        if (done) return;
        let hello: Hello;
        try {
          hello = parseControl(payload) as Hello;
        } catch (e) {
          return finish(e as Error);
        }
        if (!hello || typeof hello !== 'object')
          return finish(new HandshakeError('malformed hello'));
        if (!tokenMatches(expectedTokenOf(accept), hello.token)) {
          return finish(new HandshakeError('invalid run token'));
        }
        const reason = accept(hello);
        if (reason) return finish(new HandshakeError(reason));
        finish(undefined, hello);
      },
      (err) => finish(new HandshakeError(`handshake failed: ${err.message}`)),
    );
    // A well-behaved peer sends nothing after Hello until it has our HelloAck, so bytes past the
    // Hello in the same chunk are dropped, and the link's own decoder rejects the remains.
    const onData = (chunk: Buffer): void => {
      decoder.push(chunk);
    };
    const onError = (e: Error): void =>
      finish(new HandshakeError(`connection error during handshake: ${e.message}`));
    const onClose = (): void => finish(new HandshakeError('connection closed during handshake'));
    const timer = setTimeout(
      () => finish(new HandshakeError(`no valid hello within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

// The expected token travels with the accept callback so callers cannot forget to check it.
const TOKEN = Symbol('token');
type TokenCarrier = ((hello: Hello) => string | undefined) & { [TOKEN]?: string };
export function withToken(
  token: string,
  accept: (hello: Hello) => string | undefined,
): TokenCarrier {
  const f = accept as TokenCarrier;
  f[TOKEN] = token;
  return f;
}
function expectedTokenOf(accept: TokenCarrier): string {
  const t = accept[TOKEN];
  if (t === undefined)
    throw new Error('acceptHandshake needs an accept callback made by withToken()');
  return t;
}

/**
 * Connecting side: sends Hello and waits for HelloAck (or a Reject with its reason). Resolves with
 * the bytes that arrived after the HelloAck: the accepting side may start sending at once, and
 * those first frames can share a read with the HelloAck (the link decodes them first).
 */
export function connectHandshake(
  socket: Socket,
  hello: Hello,
  timeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let done = false;
    let rest: Buffer = Buffer.alloc(0);
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(rest);
    };
    const decoder = new FrameDecoder(
      {
        maxMessageBytes: 0,
        maxControlBytes: MAX_CONTROL_BYTES,
        allowedTypes: new Set([MsgType.HelloAck, MsgType.Reject]),
      },
      (type, _tag, payload) => {
        if (type === MsgType.HelloAck) {
          decoder.stopped = true;
          return;
        }
        let reason = 'rejected';
        try {
          reason = String((parseControl(payload) as { reason?: unknown }).reason ?? reason);
        } catch {
          /* keep the generic reason */
        }
        finish(new HandshakeError(`peer refused the connection: ${reason}`));
      },
      (err) => finish(new HandshakeError(`handshake failed: ${err.message}`)),
    );
    const onData = (chunk: Buffer): void => {
      const used = decoder.push(chunk);
      if (!decoder.stopped) return;
      // 'data' chunks are the caller's to keep (a ReadRouter copies before emitting).
      rest = chunk.subarray(used);
      finish();
    };
    const onError = (e: Error): void =>
      finish(new HandshakeError(`connection error during handshake: ${e.message}`));
    const onClose = (): void => finish(new HandshakeError('connection closed during handshake'));
    const timer = setTimeout(
      () => finish(new HandshakeError(`no handshake reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.write(encodeControl(MsgType.Hello, 0, hello));
  });
}

/** Scratch read size between frames: holds many small frames, or a header and the start of a payload. */
const READ_SCRATCH_BYTES = 64 * 1024;

/**
 * Socket reads into memory we choose (net's `onread`) instead of a fresh 64 KiB buffer per read:
 * payload bytes go straight from the kernel into their message buffer (usually the destination a
 * receive asked for), and everything else lands in one reused scratch buffer, so receiving
 * allocates nothing per read. Until a decoder is attached (during the handshake), reads are
 * re-emitted as ordinary 'data' events.
 */
export class ReadRouter {
  private readonly scratch = Buffer.allocUnsafe(READ_SCRATCH_BYTES);
  private decoder: FrameDecoder | undefined;
  private socket: Socket | undefined;
  private current: Uint8Array = this.scratch;

  /** The `onread` option for net.connect / new net.Socket. */
  readonly onread = {
    buffer: (): Uint8Array => this.next(),
    callback: (nread: number, buf: Uint8Array): boolean => {
      const chunk = Buffer.from(buf.buffer, buf.byteOffset, nread);
      if (this.decoder) this.decoder.push(chunk);
      else this.socket?.emit('data', Buffer.from(chunk));
      return true;
    },
  };

  bind(socket: Socket): Socket {
    this.socket = socket;
    return socket;
  }

  attach(decoder: FrameDecoder): void {
    decoder.reusedChunks = true;
    this.decoder = decoder;
  }

  /** True while the next read would land inside `buffer` (memory the caller must not give away). */
  readsInto(buffer: ArrayBufferLike): boolean {
    return this.current.buffer === buffer;
  }

  private next(): Uint8Array {
    this.current = this.decoder?.readTarget() ?? this.scratch;
    return this.current;
  }
}

/** Connects with reads routed through a ReadRouter. */
export function connectRouted(host: string, port: number, router: ReadRouter): Socket {
  return router.bind(net.connect({ host, port, onread: router.onread }));
}

/**
 * Moves an accepted socket's connection onto a new Socket whose reads go through `router` (a
 * server cannot give its sockets `onread`). Returns undefined, leaving `socket` as it is, when the
 * socket has data or writes in flight that a move could lose.
 */
export function adoptRouted(socket: Socket, router: ReadRouter): Socket | undefined {
  const s = socket as Socket & { _handle?: unknown };
  const handle = s._handle;
  if (
    !handle ||
    socket.destroyed ||
    socket.readableLength > 0 ||
    socket.writableLength > 0 ||
    socket.connecting
  )
    return undefined;
  s._handle = null;
  socket.destroy(); // without its handle this only retires the old object (and its server count)
  return router.bind(
    new net.Socket({
      handle,
      readable: true,
      writable: true,
      onread: router.onread,
    } as net.SocketConstructorOpts),
  );
}

export interface LinkOptions {
  allowedTypes: ReadonlySet<MsgType>;
  maxMessageBytes?: number;
  /** Emulated link for outgoing traffic; undefined sends at loopback speed. */
  emulate?: LinkSpec;
  /**
   * Paces the emulated sends, shared with the rank's other links on its NIC (EmulatedNics); by
   * default the link paces itself.
   */
  pacer?: Pacer;
  /** Payload bytes per frame; emulated links pace per fragment. */
  fragmentBytes?: number;
  onMessage: (type: MsgType, tag: number, payload: Buffer) => void;
  /** Supplies the destination buffer for a message about to arrive (see FrameDecoder). */
  allocate?: (type: MsgType, tag: number, total: number) => Buffer | undefined;
  /** Called once when the link ends; `err` is undefined for an orderly local close. */
  onClose: (err: Error | undefined) => void;
  /** The socket's reads go through this router (see ReadRouter) rather than 'data' events. */
  router?: ReadRouter;
  /** Bytes already read from the socket (past the handshake), decoded before anything else. */
  initial?: Buffer;
}

/** An authenticated connection: framed sends (optionally paced), decoded receives. */
export class Link {
  private readonly decoder: FrameDecoder;
  private readonly pacer: Pacer | undefined;
  private readonly fragmentBytes: number;
  private closed = false;
  private closingLocally = false;
  /** Sends whose bytes are still queued (paced or in the socket); rejected if the link ends. */
  private readonly unsent = new Set<(e: Error) => void>();
  bytesSent = 0;
  bytesReceived = 0;

  constructor(
    readonly socket: Socket,
    private readonly opts: LinkOptions,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    this.pacer = opts.pacer ?? (opts.emulate ? new Pacer(opts.emulate) : undefined);
    // Emulated links pace in fragments so a message pipelines through the emulated wire: about
    // 2 ms of link time each (at least 256 KiB), well above the pacer's 1 ms timer tick, so
    // faster links do not pay per-fragment overhead for nothing.
    this.fragmentBytes =
      opts.fragmentBytes ??
      (opts.emulate
        ? Math.min(
            4 * 1024 * 1024,
            Math.max(256 * 1024, Math.round((opts.emulate.gbps * 1e9 * 0.002) / 8 / 4096) * 4096),
          )
        : 4 * 1024 * 1024);
    this.decoder = new FrameDecoder(
      {
        maxMessageBytes: opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
        maxControlBytes: MAX_CONTROL_BYTES * 16,
        allowedTypes: opts.allowedTypes,
      },
      (type, tag, payload) => {
        this.bytesReceived += payload.length;
        opts.onMessage(type, tag, payload);
      },
      (err) => this.fail(err),
      opts.allocate,
    );
    if (opts.initial?.length) this.decoder.push(opts.initial);
    if (opts.router) opts.router.attach(this.decoder);
    else socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => {
      if (this.closingLocally) this.end(undefined);
      else if (this.decoder.midMessage)
        this.fail(new Error('connection closed in the middle of a message'));
      else this.fail(new Error('connection closed by peer'));
    });
  }

  /** Whether bytes of a send are still queued: the rank is waiting on this link to carry them. */
  get sending(): boolean {
    return this.unsent.size > 0;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one message; resolves when its last byte has been handed to the OS. */
  send(type: MsgType, tag: number, payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error('link is closed'));
    return new Promise((resolve, reject) => {
      const frames = [...fragmentMessage(type, tag, payload, this.fragmentBytes)];
      let left = frames.length;
      this.unsent.add(reject);
      const onWritten = (err?: Error | null): void => {
        if (err) {
          this.unsent.delete(reject);
          return reject(err);
        }
        if (--left === 0) {
          this.unsent.delete(reject);
          resolve();
        }
      };
      for (const f of frames) {
        const write = (): void => {
          if (this.closed || this.socket.destroyed)
            return reject(new Error('link closed while sending'));
          this.socket.cork();
          this.socket.write(f.header);
          if (f.body.byteLength > 0) this.socket.write(f.body, onWritten);
          else this.socket.write(Buffer.alloc(0), onWritten);
          this.socket.uncork();
          this.bytesSent += f.header.length + f.body.byteLength;
        };
        if (this.pacer) this.pacer.enqueue(f.header.length + f.body.byteLength, write);
        else write();
      }
    });
  }

  /** Writes a small control message at once, ahead of any paced traffic (used for Abort). */
  sendNow(type: MsgType, body: unknown): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(encodeControl(type, 0, body));
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.end(err);
    this.socket.destroy();
  }

  private end(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.dropPaced();
    this.opts.onClose(err);
    const reason = new Error(`link closed while sending${err ? `: ${err.message}` : ''}`);
    for (const reject of this.unsent) reject(reason);
    this.unsent.clear();
  }

  /**
   * Drops this link's queued writes. A pacer shared with other links keeps its queue: the writes
   * queued for this link see it closed and reject, and the others go on.
   */
  private dropPaced(): void {
    if (!this.opts.pacer) this.pacer?.cancel();
  }

  /** True while an incoming message is being read straight into `buffer`. */
  readsInto(buffer: ArrayBufferLike): boolean {
    return !this.closed && !!this.opts.router?.readsInto(buffer);
  }

  /** Stops reading at once: no byte is written into any receive buffer after this. */
  stopReading(): void {
    if (!this.socket.destroyed) this.socket.pause();
  }

  /** Orderly local close: the peer sees EOF, we report no error. */
  close(): void {
    if (this.closed) return;
    this.closingLocally = true;
    this.dropPaced();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }
}
