/**
 * The full mesh of authenticated TCP links between all ranks of a run.
 *
 * Setup: every rank listens on an ephemeral port and publishes `host:port` in the rendezvous
 * store; once all ranks have joined, rank i connects to every rank j < i and accepts from every
 * j > i. Any link that closes unexpectedly fails the whole mesh with an error naming the peer, so
 * a dead rank turns every pending collective on every surviving rank into a clear error at once.
 */
import net from 'node:net';
import { EmulatedNics, Topology, linkSpecFor, type NetworkConfig } from './emulation.js';
import {
  Link,
  ReadRouter,
  acceptHandshake,
  adoptRouted,
  connectHandshake,
  connectRouted,
  withToken,
} from './link.js';
import { Mailbox } from './mailbox.js';
import { ReceivePool } from './receive-pool.js';
import { StoreTimeoutError, type StoreClient } from './store.js';
import { PeerError, type PeerTransport } from './transport.js';
import { MsgType, parseControl } from './wire.js';

export interface MeshOptions {
  rank: number;
  world: number;
  token: string;
  store: StoreClient;
  /** Interface to listen on for peers (127.0.0.1 for a single machine, 0.0.0.0 for several). */
  listenHost: string;
  /** Address the other ranks should dial; defaults to our address on the route to the store. */
  advertiseHost?: string;
  topology: Topology;
  network: NetworkConfig;
  joinTimeoutMs: number;
  maxMessageBytes?: number;
  handshakeTimeoutMs?: number;
  /** Diagnostics for refused connection attempts; the mesh itself keeps working. */
  onRejected?: (reason: string) => void;
}

/** Milliseconds as seconds for messages: "30", "1.5". */
export function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

function rankList(ranks: number[]): string {
  return ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks.join(', ')}`;
}

/** Memory kept for messages that arrive before their receive (see ReceivePool). */
const EARLY_RECEIVE_POOL_BYTES = 64 * 1024 * 1024;

/** How long a broken link waits for an Abort from another peer to name the real culprit. */
const DISCONNECT_GRACE_MS = 200;

export class TcpMesh implements PeerTransport {
  readonly rank: number;
  readonly world: number;
  private readonly links = new Map<number, Link>();
  private readonly mailbox = new Mailbox();
  private readonly early = new ReceivePool(EARLY_RECEIVE_POOL_BYTES);
  private readonly nics: EmulatedNics;
  private closing = false;
  private draining = false;
  private failureListeners: ((err: Error) => void)[] = [];
  private pendingFailure:
    { err: Error; waiters: (() => void)[]; timer: NodeJS.Timeout } | undefined;
  private linkWaiters: (() => void)[] = [];
  readonly pacedLinks: boolean;

  private constructor(
    private readonly opts: MeshOptions,
    private readonly server: net.Server,
  ) {
    this.rank = opts.rank;
    this.world = opts.world;
    this.nics = new EmulatedNics(opts.topology, opts.network, opts.rank);
    this.pacedLinks = Array.from({ length: opts.world }, (_, peer) => peer).some(
      (peer) =>
        peer !== opts.rank &&
        linkSpecFor(opts.topology, opts.network, opts.rank, peer) !== undefined,
    );
  }

  static async create(opts: MeshOptions): Promise<TcpMesh> {
    const server = net.createServer();
    const mesh = new TcpMesh(opts, server);
    server.on('connection', (s) => void mesh.onIncoming(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, opts.listenHost, () => resolve());
    });
    try {
      await mesh.connectAll();
    } catch (e) {
      await mesh.close();
      throw e;
    }
    return mesh;
  }

  /** Bytes sent and received on every link so far. */
  get traffic(): { sent: number; received: number } {
    let sent = 0;
    let received = 0;
    for (const l of this.links.values()) {
      sent += l.bytesSent;
      received += l.bytesReceived;
    }
    return { sent, received };
  }

  /** Bytes sent so far to each peer (index = peer rank; 0 for this rank), frame headers included. */
  get sentByPeer(): number[] {
    const out = new Array<number>(this.world).fill(0);
    for (const [peer, l] of this.links) out[peer] = l.bytesSent;
    return out;
  }

  get failure(): Error | undefined {
    return this.mailbox.error;
  }

  /**
   * Peers this rank is waiting on right now: to receive from, or to carry a send (a collective
   * may post its receives only after its sends, so a stalled link can show on either side).
   */
  get waitingOn(): number[] {
    const peers = new Set(this.mailbox.waitingPeers());
    for (const [peer, link] of this.links) if (link.sending) peers.add(peer);
    return [...peers].sort((a, b) => a - b);
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  private async connectAll(): Promise<void> {
    const { store, rank, world, joinTimeoutMs } = this.opts;
    const port = (this.server.address() as net.AddressInfo).port;
    const host = this.opts.advertiseHost ?? store.localAddress;
    await store.set(`mesh/addr/${rank}`, `${host}:${port}`);
    const keys = Array.from({ length: world }, (_, r) => `mesh/addr/${r}`);
    try {
      await store.wait(keys, joinTimeoutMs);
    } catch (e) {
      if (!(e instanceof StoreTimeoutError)) throw e;
      const missing = e.missing.map((k) => Number(k.split('/').pop()));
      throw new Error(`${rankList(missing)} did not join within ${seconds(joinTimeoutMs)} s`);
    }
    const deadline = Date.now() + joinTimeoutMs;
    await Promise.all(
      Array.from({ length: rank }, async (_, peer) => {
        const addr = (await store.get(`mesh/addr/${peer}`))!;
        await this.dial(peer, addr, deadline);
      }),
    );
    await this.waitForLinks(deadline);
  }

  private async dial(peer: number, addr: string, deadline: number): Promise<void> {
    const sep = addr.lastIndexOf(':');
    const host = addr.slice(0, sep);
    const port = Number(addr.slice(sep + 1));
    const router = new ReadRouter();
    const socket = connectRouted(host, port, router);
    let initial: Buffer;
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
      const timeout = Math.max(1000, deadline - Date.now());
      initial = await connectHandshake(
        socket,
        { token: this.opts.token, rank: this.rank, role: 'mesh' },
        timeout,
      );
    } catch (e) {
      socket.destroy();
      throw new Error(`cannot connect to rank ${peer} at ${addr}: ${(e as Error).message}`);
    }
    this.addLink(peer, socket, router, initial);
  }

  private async onIncoming(socket: net.Socket): Promise<void> {
    socket.on('error', () => undefined);
    let hello;
    try {
      hello = await acceptHandshake(
        socket,
        withToken(this.opts.token, (h) => {
          if (h.role !== 'mesh') return `expected a mesh peer, got ${String(h.role)}`;
          if (!Number.isInteger(h.rank) || h.rank <= this.rank || h.rank >= this.world) {
            return `rank ${String(h.rank)} may not dial rank ${this.rank} in a world of ${this.world}`;
          }
          if (this.links.has(h.rank)) return `rank ${h.rank} is already connected`;
          if (this.closing || this.failure) return 'mesh is shutting down';
          return undefined;
        }),
        this.opts.handshakeTimeoutMs,
      );
    } catch (e) {
      this.opts.onRejected?.(
        `rank ${this.rank} refused a connection from ${socket.remoteAddress}: ${(e as Error).message}`,
      );
      return;
    }
    const router = new ReadRouter();
    const adopted = adoptRouted(socket, router);
    if (adopted) {
      adopted.on('error', () => undefined);
      this.addLink(hello.rank, adopted, router);
    } else this.addLink(hello.rank, socket);
  }

  private addLink(peer: number, socket: net.Socket, router?: ReadRouter, initial?: Buffer): void {
    const link = new Link(socket, {
      router,
      initial,
      allowedTypes: new Set([MsgType.Data, MsgType.Abort]),
      maxMessageBytes: this.opts.maxMessageBytes,
      emulate: linkSpecFor(this.opts.topology, this.opts.network, this.rank, peer),
      pacer: this.nics.pacerFor(peer),
      onMessage: (type, tag, payload) => {
        if (type === MsgType.Data) return this.mailbox.deliver(peer, tag, payload);
        this.onAbort(peer, payload);
      },
      // Decode a data message straight into the buffer its receive asked for, if it did, and
      // otherwise into recycled memory.
      allocate: (type, tag, total) =>
        type === MsgType.Data
          ? (this.mailbox.claim(peer, tag, total) ?? this.early.take(total))
          : undefined,
      onClose: (err) => {
        // While draining, a peer that finished first and closed is expected, not a crash.
        if (this.closing || this.draining) return;
        void this.failAfterGrace(
          new PeerError(peer, `rank ${peer} disconnected: ${err?.message ?? 'connection closed'}`),
        );
      },
    });
    this.links.set(peer, link);
    for (const w of this.linkWaiters.splice(0)) w();
  }

  private waitForLinks(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.failure) return reject(this.failure);
        if (this.links.size === this.world - 1) {
          clearTimeout(timer);
          return resolve();
        }
        this.linkWaiters.push(check);
      };
      const timer = setTimeout(
        () => {
          const missing = Array.from({ length: this.world }, (_, r) => r).filter(
            (r) => r !== this.rank && !this.links.has(r),
          );
          reject(
            new Error(
              `${rankList(missing)} did not connect to rank ${this.rank} within the join timeout`,
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      check();
    });
  }

  private onAbort(from: number, payload: Buffer): void {
    let culprit = from;
    let message = `rank ${from} aborted`;
    try {
      const body = parseControl(payload) as { rank?: unknown; message?: unknown };
      if (
        Number.isInteger(body.rank) &&
        (body.rank as number) >= 0 &&
        (body.rank as number) < this.world
      )
        culprit = body.rank as number;
      if (typeof body.message === 'string')
        message = `${body.message.slice(0, 500)} (reported by rank ${from})`;
    } catch {
      /* keep the generic message */
    }
    this.fail(new PeerError(culprit, message));
  }

  /**
   * A link broke. The peer may only be a messenger: a survivor that saw the real failure exits
   * right after sending us an Abort naming the culprit, and our write to it can fail before that
   * frame, already in our receive buffer, is read. So wait a moment for an Abort to name the
   * cause, then fail with this error. Resolves once the mesh has failed.
   */
  private failAfterGrace(err: Error): Promise<void> {
    if (this.mailbox.error) return Promise.resolve();
    return new Promise((resolve) => {
      this.pendingFailure ??= {
        err,
        waiters: [],
        timer: setTimeout(() => this.fail(err), DISCONNECT_GRACE_MS),
      };
      this.pendingFailure.waiters.push(resolve);
    });
  }

  private fail(err: Error): void {
    const pending = this.pendingFailure;
    this.pendingFailure = undefined;
    if (pending) clearTimeout(pending.timer);
    const settle = (): void => pending?.waiters.forEach((w) => w());
    if (this.mailbox.error) return settle();
    // Nothing more is received after a failure; stopping reads first also guarantees that no
    // socket writes into a receive buffer once its collective has failed and handed it back.
    for (const l of this.links.values()) l.stopReading();
    this.mailbox.fail(err);
    // Tell the surviving peers who failed before we go down, so their errors name the cause
    // rather than us.
    if (err instanceof PeerError) {
      for (const [peer, link] of this.links) {
        if (peer !== err.peer)
          link.sendNow(MsgType.Abort, { rank: err.peer, message: err.message });
      }
    }
    for (const l of this.failureListeners) l(err);
    settle();
  }

  /**
   * Fails the mesh if a message is still being read straight into `buffer`: called before a
   * failed collective gives its buffer back, which must then never be written again.
   */
  releaseBuffer(buffer: ArrayBufferLike, reason: string): void {
    this.mailbox.forget(buffer);
    for (const l of this.links.values()) {
      if (l.readsInto(buffer))
        return this.fail(
          new Error(
            `${reason}; a message was still arriving into its buffer, so the links cannot go on`,
          ),
        );
    }
  }

  send(peer: number, tag: number, data: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const link = this.links.get(peer);
    if (!link) return Promise.reject(new Error(`rank ${this.rank} has no link to rank ${peer}`));
    return link.send(MsgType.Data, tag, data).catch(async (e: Error) => {
      await this.failAfterGrace(new PeerError(peer, `rank ${peer} disconnected: ${e.message}`));
      throw this.failure;
    });
  }

  recv(peer: number, tag: number, into?: Uint8Array): Promise<Buffer> {
    return this.mailbox.take(peer, tag, into);
  }

  recycle(received: Buffer): void {
    this.early.give(received);
  }

  /** All our work is done: from now on a peer closing its link is orderly, not a failure. */
  beginShutdown(): void {
    this.draining = true;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.mailbox.fail(this.failure ?? new Error('mesh closed'));
    this.nics.cancel();
    for (const l of this.links.values()) l.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
