/**
 * The compute thread's handle on its rank's communication: starts the comm worker thread, and
 * exposes each collective as a promise (an async handle: issue now, await when the result is
 * needed, keep computing in between).
 *
 * Inputs are copied into pooled staging memory that is transferred (not cloned) to the worker, so
 * callers may reuse their arrays at once; results come back transferred, as the same typed-array
 * type. In-place operations on arrays backed by a SharedArrayBuffer skip both copies: the worker
 * works on the caller's memory directly, so the caller must leave it alone until the promise
 * settles (as with a buffer handed to an NCCL stream).
 */
import { Worker } from 'node:worker_threads';
import { compiledFile } from '../util/runtime-path.js';
import { chunkOffsets, type AllReduceAlgo } from './collectives.js';
import type { CommConfigInput } from './config.js';
import { bytesOf, dtypeOf, viewAs, type CommArray, type DType, type ReduceOp } from './dtype.js';
import { PeerError } from './transport.js';
import type { CollectiveName, FromWorker, OpRequest, ToWorker } from './worker-protocol.js';

/** Staging memory kept for reuse between operations. */
const MAX_POOLED_BYTES = 512 * 1024 * 1024;

type Done = Extract<FromWorker, { kind: 'done' }> & { shared?: boolean };

interface Pending {
  /** The operand was the caller's shared memory: nothing to copy back or recycle. */
  shared: boolean;
  resolve: (m: Done) => void;
  reject: (e: Error) => void;
}

export interface OpOptions {
  op?: ReduceOp;
  algo?: AllReduceAlgo;
  /** Run on this subgroup of ranks (default: all). */
  ranks?: number[];
  /** Element type when the array type is ambiguous (a Uint16Array holding bf16). */
  dtype?: DType;
}

/** Time spent inside the worker on collectives, for metrics (total vs exposed comm time). */
export interface CommStats {
  ops: number;
  busyMs: number;
}

export class CommClient {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private failure: Error | undefined;
  private failureListeners: ((e: Error) => void)[] = [];
  private closed: Promise<void> | undefined;
  readonly stats: CommStats = { ops: 0, busyMs: 0 };
  private pool: ArrayBuffer[] = [];
  private pooledBytes = 0;
  traffic = { sent: 0, received: 0 };
  /**
   * Bytes sent to each peer (index = peer rank) as of the last completed operation: once every
   * operation of a step is done, the difference between two reads is that step's bytes per link.
   */
  sentByPeer: number[] = [];
  /** Stream the next submitted operation goes to (set only for the duration of withStream). */
  private stream = 0;
  /** Peers the worker's receives were waiting on at its last report (about once a second). */
  waitingOn: number[] = [];
  /** Memory of received parts the worker moved here whole: what recycle() may hand back. */
  private readonly lent = new WeakSet<ArrayBuffer>();

  private constructor(
    private readonly worker: Worker,
    readonly rank: number,
    readonly world: number,
  ) {}

  /** Starts the worker, joins the rendezvous and builds the mesh. Rejects with the join error. */
  static async start(
    config: CommConfigInput,
    onRejected?: (reason: string) => void,
  ): Promise<CommClient> {
    const worker = new Worker(compiledFile('engine/comm/comm-worker.ts'));
    const ready = await new Promise<Extract<FromWorker, { kind: 'ready' }>>((resolve, reject) => {
      const onMsg = (m: FromWorker): void => {
        if (m.kind === 'ready') resolve(m);
        else if (m.kind === 'initError') reject(new Error(m.message));
        else if (m.kind === 'rejected') onRejected?.(m.reason);
        else return;
        if (m.kind !== 'rejected') worker.off('message', onMsg);
      };
      worker.on('message', onMsg);
      worker.once('error', reject);
      worker.postMessage({ kind: 'init', config } satisfies ToWorker);
    }).catch(async (e: Error) => {
      await worker.terminate();
      throw e;
    });
    const client = new CommClient(worker, ready.rank, ready.world);
    worker.on('message', (m: FromWorker) => client.onMessage(m, onRejected));
    worker.on('error', (e) => client.fail(new Error(`comm worker crashed: ${e.message}`)));
    return client;
  }

  /**
   * Runs `issue` with its collectives on comm stream `s` (stream-transport.ts). Every method
   * submits synchronously before its first await, so the stream applies to exactly the
   * operations `issue` starts before it returns.
   */
  withStream<T>(s: number, issue: () => T): T {
    const prev = this.stream;
    this.stream = s;
    try {
      return issue();
    } finally {
      this.stream = prev;
    }
  }

  get error(): Error | undefined {
    return this.failure;
  }

  /** Called once if the mesh fails (a peer died, a link broke). */
  onFailure(listener: (e: Error) => void): void {
    this.failureListeners.push(listener);
    if (this.failure) listener(this.failure);
  }

  private onMessage(m: FromWorker, onRejected?: (reason: string) => void): void {
    switch (m.kind) {
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.stats.ops++;
        this.stats.busyMs += m.ms;
        this.sentByPeer = m.sentByPeer;
        for (const part of m.parts ?? [])
          if (part.byteLength > 0 && part.byteLength === part.buffer.byteLength)
            this.lent.add(part.buffer as ArrayBuffer);
        p?.resolve(p.shared ? { ...m, shared: true } : m);
        return;
      }
      case 'opError': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p?.shared) this.release(m.staging.buffer as ArrayBuffer);
        p?.reject(m.peer === undefined ? new Error(m.message) : new PeerError(m.peer, m.message));
        return;
      }
      case 'failed':
        this.fail(m.peer === undefined ? new Error(m.message) : new PeerError(m.peer, m.message));
        return;
      case 'rejected':
        onRejected?.(m.reason);
        return;
      case 'traffic':
        this.traffic = { sent: m.sent, received: m.received };
        return;
      case 'waiting':
        this.waitingOn = m.peers;
        return;
      default:
        return;
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const l of this.failureListeners) l(e);
  }

  /**
   * A staging buffer of at least `bytes`, reused across operations: fresh multi-MiB memory costs a
   * page fault per 4 KiB on first touch, which made copying into new buffers slower than the
   * network on the machines GradBench is measured on.
   */
  private acquire(bytes: number): ArrayBuffer {
    const i = this.pool.findIndex((b) => b.byteLength >= bytes && b.byteLength <= 2 * bytes + 4096);
    if (i >= 0) {
      const [b] = this.pool.splice(i, 1);
      this.pooledBytes -= b.byteLength;
      return b;
    }
    return new ArrayBuffer(Math.max(64, 2 ** Math.ceil(Math.log2(Math.max(1, bytes)))));
  }

  private release(b: ArrayBufferLike | undefined): void {
    if (
      !b ||
      b instanceof SharedArrayBuffer ||
      b.byteLength === 0 ||
      this.pooledBytes + b.byteLength > MAX_POOLED_BYTES
    )
      return;
    this.pool.push(b as ArrayBuffer);
    this.pooledBytes += b.byteLength;
  }

  /**
   * Copies the operand into a staging buffer (at `offset`) and runs `op` on it in the worker; with
   * `inPlace` set to a shared-memory array of exactly the staged size, the worker uses it directly.
   */
  private async submit(
    op: CollectiveName,
    data: CommArray | null,
    extra: Partial<OpRequest> = {},
    stagedBytes = data?.byteLength ?? 0,
    offset = 0,
    inPlace?: CommArray,
    /** Payloads copied one after another into the staging buffer (all-to-all's parts). */
    pieces?: Uint8Array[],
  ): Promise<Done> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('communication is closed');
    const id = this.nextId++;
    const shared =
      inPlace !== undefined &&
      inPlace.buffer instanceof SharedArrayBuffer &&
      inPlace.byteLength === stagedBytes;
    let staging: Uint8Array;
    if (shared) {
      staging = bytesOf(inPlace);
      if (data && data !== inPlace) staging.set(bytesOf(data), offset);
    } else {
      staging = new Uint8Array(this.acquire(stagedBytes), 0, stagedBytes);
      if (data) staging.set(bytesOf(data), offset);
      let at = 0;
      for (const p of pieces ?? []) {
        staging.set(p, at);
        at += p.byteLength;
      }
    }
    const req: OpRequest = {
      kind: 'op',
      id,
      op,
      data: staging,
      dtype: data ? dtypeOf(data) : 'u8',
      reduceOp: 'sum',
      root: 0,
      algo: 'ring',
      totalCount: 0,
      ...(this.stream ? { stream: this.stream } : {}),
      ...extra,
    };
    const transfer = shared ? [] : [staging.buffer as ArrayBuffer];
    return new Promise<Done>((resolve, reject) => {
      this.pending.set(id, { shared, resolve, reject });
      this.worker.postMessage(req satisfies ToWorker, transfer);
    });
  }

  /** Copies a result out of its staging buffer into `dst` (or a new array like `like`), then recycles the buffer. */
  private finish<T extends CommArray>(m: Done, like: T, dst?: T): T {
    if (m.shared) return dst!;
    const bytes = m.data!;
    const out = dst ?? (viewAs(dtypeOf(like), new Uint8Array(bytes.byteLength)) as T);
    if (out.byteLength !== bytes.byteLength)
      throw new Error(`result has ${bytes.byteLength} bytes, destination ${out.byteLength}`);
    bytesOf(out).set(bytes);
    this.release(m.staging.buffer as ArrayBuffer);
    return out;
  }

  /** All-reduce in place: `data` holds the result afterwards (and is returned). */
  async allReduce<T extends CommArray>(data: T, opts: OpOptions = {}): Promise<T> {
    const m = await this.submit(
      'allReduce',
      data,
      {
        reduceOp: opts.op ?? 'sum',
        algo: opts.algo ?? 'ring',
        ranks: opts.ranks,
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
      },
      data.byteLength,
      0,
      data,
    );
    return this.finish(m, data, data);
  }

  /**
   * The full vector in, this rank's chunk of the reduction out (see splitCounts), into `out` when
   * given. `data` is left unchanged, except with `inPlace` on an array in shared memory: the worker
   * then reduces inside `data` itself (no staging copy, no result memory; `data` is scratch
   * afterwards), and the result is `out` or, without it, a view of this rank's chunk of `data`.
   */
  async reduceScatter<T extends CommArray>(
    data: T,
    opts: OpOptions & { out?: T; inPlace?: boolean } = {},
  ): Promise<T> {
    const m = await this.submit(
      'reduceScatter',
      data,
      {
        reduceOp: opts.op ?? 'sum',
        ranks: opts.ranks,
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
      },
      data.byteLength,
      0,
      opts.inPlace ? data : undefined,
    );
    if (!m.shared) return this.finish(m, data, opts.out);
    const chunk = viewAs(dtypeOf(data), m.data!) as T;
    if (!opts.out) return chunk;
    if (opts.out.length !== chunk.length)
      throw new Error(`result has ${chunk.length} elements, destination ${opts.out.length}`);
    opts.out.set(chunk as never);
    return opts.out;
  }

  /** This rank's chunk in, the whole `totalCount`-element vector out (into `out` when given). */
  async allGather<T extends CommArray>(
    chunk: T,
    totalCount: number,
    ranks?: number[],
    out?: T,
  ): Promise<T> {
    const n = ranks?.length ?? this.world;
    const index = ranks ? ranks.indexOf(this.rank) : this.rank;
    const offs = chunkOffsets(totalCount, n, chunk.BYTES_PER_ELEMENT);
    if (index < 0) throw new Error(`rank ${this.rank} is not in group [${ranks!.join(', ')}]`);
    const m = await this.submit(
      'allGather',
      chunk,
      { totalCount, ranks },
      offs[n],
      offs[index],
      out,
    );
    return this.finish(m, chunk, out);
  }

  /** Payloads of any size in, every rank's payload out (by rank). */
  async allGatherV(payload: Uint8Array, ranks?: number[]): Promise<Uint8Array[]> {
    const m = await this.submit('allGatherV', payload, { ranks });
    this.release(m.staging.buffer as ArrayBuffer);
    return m.parts!;
  }

  /**
   * `parts[j]` to the j-th rank of the group; returns what each rank sent here. This rank's own
   * entry is the caller's own part itself (not a copy). Hand the others to recycle() once read.
   *
   * The parts travel packed in one pooled staging buffer (this rank's own part stays here): a
   * fresh buffer per part per call cost more than the exchange (page faults on first touch;
   * measured on 4 ranks, 16 MiB: most of the compute thread's time per call went to those copies).
   */
  async allToAllV(parts: Uint8Array[], ranks?: number[]): Promise<Uint8Array[]> {
    const own = ranks ? ranks.indexOf(this.rank) : this.rank;
    const travelling = parts.map((p, j) => (j === own ? p.subarray(0, 0) : p));
    const partBytes = travelling.map((p) => p.byteLength);
    const total = partBytes.reduce((a, b) => a + b, 0);
    const m = await this.submit(
      'allToAllV',
      null,
      { partBytes, ranks },
      total,
      0,
      undefined,
      travelling,
    );
    this.release(m.staging.buffer as ArrayBuffer);
    const out = m.parts!;
    out[own] = parts[own];
    return out;
  }

  /**
   * Hands back received parts (from allToAllV, allGatherV, recv) the caller has finished reading:
   * their memory moves back to the worker, and a later message of the same size lands in it
   * instead of in fresh memory, which costs a page fault per 4 KiB (as much CPU as the loopback
   * copy on the machines GradBench is measured on). The parts are empty afterwards. Anything else
   * (the caller's own part, a view into a larger buffer) is left alone.
   */
  recycle(parts: readonly Uint8Array[]): void {
    const buffers: ArrayBuffer[] = [];
    for (const p of parts) {
      const b = p.buffer as ArrayBuffer;
      if (!this.lent.has(b)) continue;
      this.lent.delete(b);
      buffers.push(b);
    }
    if (buffers.length === 0 || this.failure || this.closed) return;
    this.worker.postMessage({ kind: 'recycle', buffers } satisfies ToWorker, buffers);
  }

  /** Reduce to `root`: the root's `data` holds the result (and is returned); null elsewhere. */
  async reduce<T extends CommArray>(
    data: T,
    root: number,
    opts: OpOptions = {},
  ): Promise<T | null> {
    const m = await this.submit(
      'reduce',
      data,
      {
        reduceOp: opts.op ?? 'sum',
        root,
        ranks: opts.ranks,
        ...(opts.dtype ? { dtype: opts.dtype } : {}),
      },
      data.byteLength,
      0,
      data,
    );
    if (m.shared) return m.data ? data : null;
    if (!m.data) {
      this.release(m.staging.buffer as ArrayBuffer);
      return null;
    }
    return this.finish(m, data, data);
  }

  /** Broadcast in place: every rank's `data` (same length everywhere) receives root's. */
  async broadcast<T extends CommArray>(data: T, root: number): Promise<T> {
    const m = await this.submit('broadcast', data, { root }, data.byteLength, 0, data);
    return this.finish(m, data, data);
  }

  async barrier(): Promise<void> {
    await this.submit('barrier', null);
  }

  /**
   * Point-to-point: `data` to rank `peer` on `channel` (copied at once, so the caller may reuse
   * it). Not a collective: only the receiver takes part, and it does not advance the collective
   * sequence. Resolves when the bytes are handed to the network.
   */
  async send(data: CommArray, peer: number, channel = 0): Promise<void> {
    const m = await this.submit('send', data, { peer, channel });
    this.release(m.staging.buffer as ArrayBuffer);
  }

  /** The next message rank `peer` sent here on `channel`, as bytes. */
  async recv(peer: number, channel = 0): Promise<Uint8Array> {
    const m = await this.submit('recv', null, { peer, channel });
    this.release(m.staging.buffer as ArrayBuffer);
    return m.parts![0];
  }

  /** Orderly shutdown (all ranks call it); after a failure it tears down without waiting for peers. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      const done = (): void => {
        void this.worker.terminate().then(() => resolve());
      };
      const timer = setTimeout(done, 15_000);
      this.worker.on('message', (m: FromWorker) => {
        if (m.kind === 'closed') {
          clearTimeout(timer);
          done();
        }
      });
      this.worker.postMessage({ kind: this.failure ? 'abort' : 'shutdown' } satisfies ToWorker);
    });
    return this.closed;
  }
}
