/**
 * The compute thread's handle on its rank's communication: starts the comm worker thread, and
 * exposes each collective as a promise (an async handle: issue now, await when the result is
 * needed, keep computing in between).
 *
 * Inputs are copied into fresh memory that is transferred (not cloned) to the worker, so callers
 * may reuse their arrays at once; results come back transferred, as the same typed-array type.
 */
import { Worker } from 'node:worker_threads';
import { compiledFile } from '../runtime-path.js';
import type { AllReduceAlgo } from './collectives.js';
import type { CommConfigInput } from './config.js';
import { bytesOf, dtypeOf, viewAs, type CommArray, type DType, type ReduceOp } from './dtype.js';
import { PeerError } from './transport.js';
import type { CollectiveName, FromWorker, OpRequest, ToWorker } from './worker-protocol.js';

interface Pending {
  resolve: (m: Extract<FromWorker, { kind: 'done' }>) => void;
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
  traffic = { sent: 0, received: 0 };

  private constructor(
    private readonly worker: Worker,
    readonly rank: number,
    readonly world: number,
  ) {}

  /** Starts the worker, joins the rendezvous and builds the mesh. Rejects with the join error. */
  static async start(config: CommConfigInput, onRejected?: (reason: string) => void): Promise<CommClient> {
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
        p?.resolve(m);
        return;
      }
      case 'opError': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
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

  private submit(op: CollectiveName, data: CommArray | null, extra: Partial<OpRequest> = {}) {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('communication is closed'));
    const id = this.nextId++;
    const bytes = data ? new Uint8Array(bytesOf(data)) : new Uint8Array(0); // private copy, then moved
    const req: OpRequest = {
      kind: 'op',
      id,
      op,
      data: bytes,
      dtype: data ? dtypeOf(data) : 'u8',
      reduceOp: 'sum',
      root: 0,
      algo: 'ring',
      totalCount: 0,
      ...extra,
    };
    const transfer = [bytes.buffer, ...(req.parts ?? []).map((p) => p.buffer as ArrayBuffer)];
    return new Promise<Extract<FromWorker, { kind: 'done' }>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage(req satisfies ToWorker, transfer);
    });
  }

  private static as<T extends CommArray>(like: T, bytes: Uint8Array): T {
    return viewAs(dtypeOf(like), bytes) as T;
  }

  async allReduce<T extends CommArray>(data: T, opts: OpOptions = {}): Promise<T> {
    const m = await this.submit('allReduce', data, { reduceOp: opts.op ?? 'sum', algo: opts.algo ?? 'ring', ranks: opts.ranks, ...(opts.dtype ? { dtype: opts.dtype } : {}) });
    return CommClient.as(data, m.data!);
  }

  /** The full vector in, this rank's chunk of the reduction out (see splitCounts). */
  async reduceScatter<T extends CommArray>(data: T, opts: OpOptions = {}): Promise<T> {
    const m = await this.submit('reduceScatter', data, { reduceOp: opts.op ?? 'sum', ranks: opts.ranks, ...(opts.dtype ? { dtype: opts.dtype } : {}) });
    return CommClient.as(data, m.data!);
  }

  /** This rank's chunk in, the whole `totalCount`-element vector out. */
  async allGather<T extends CommArray>(chunk: T, totalCount: number, ranks?: number[]): Promise<T> {
    const m = await this.submit('allGather', chunk, { totalCount, ranks });
    return CommClient.as(chunk, m.data!);
  }

  /** Payloads of any size in, every rank's payload out (by rank). */
  async allGatherV(payload: Uint8Array, ranks?: number[]): Promise<Uint8Array[]> {
    const m = await this.submit('allGatherV', payload, { ranks });
    return m.parts!;
  }

  /** `parts[j]` to the j-th rank of the group; returns what each rank sent here. */
  async allToAllV(parts: Uint8Array[], ranks?: number[]): Promise<Uint8Array[]> {
    const m = await this.submit('allToAllV', null, { parts: parts.map((p) => new Uint8Array(p)), ranks });
    return m.parts!;
  }

  /** The reduced vector at `root`; null elsewhere. */
  async reduce<T extends CommArray>(data: T, root: number, opts: OpOptions = {}): Promise<T | null> {
    const m = await this.submit('reduce', data, { reduceOp: opts.op ?? 'sum', root, ...(opts.dtype ? { dtype: opts.dtype } : {}) });
    return m.data ? CommClient.as(data, m.data) : null;
  }

  /** Root's `data` on every rank; every rank passes an array of the same length. */
  async broadcast<T extends CommArray>(data: T, root: number): Promise<T> {
    const m = await this.submit('broadcast', data, { root });
    return CommClient.as(data, m.data!);
  }

  async barrier(): Promise<void> {
    await this.submit('barrier', null);
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
