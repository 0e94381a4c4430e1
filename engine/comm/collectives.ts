/**
 * Collective operations over any PeerTransport, in the bandwidth-optimal ring formulations
 * (Patarasuk & Yuan; what NCCL calls ring), plus a two-level hierarchical all-reduce.
 *
 * Conventions, shared by every rank of a call (like NCCL, callers must issue the same sequence of
 * collectives with the same lengths on every rank):
 * - A vector of `count` elements is split into `world` chunks as evenly as possible (the first
 *   `count % world` chunks get one element more); rank r owns chunk r after a reduce-scatter.
 * - Every call takes a fresh tag from a per-instance sequence counter; messages of one call never
 *   match another's, even when a fast peer has already moved on to the next call. Hence every
 *   rank must make the same sequence of calls, even when a call names a subgroup it is not the
 *   same subgroup on every rank (HYBRID_SHARD: each rank reduces within its own node).
 * - Methods that take `ranks` run on that subgroup (default: all ranks); chunk indices are
 *   positions in `ranks`.
 * - Buffers are bytes plus a dtype; reductions go through `reduceInto` (f16 widens to f32).
 * - Point-to-point `sendTo` / `recvFrom` take no sequence number: they use their own tag range
 *   (a channel chosen by the caller), so ranks that exchange different numbers of messages (the
 *   stages of a pipeline) keep their collective sequences in step. Messages on one (peer,
 *   channel) pair match in the order they were sent.
 */
import { DTYPE_BYTES, checkOpSupported, reduceInto, type DType, type ReduceOp } from './dtype.js';
import type { Topology } from './emulation.js';
import type { PeerTransport } from './transport.js';

const PHASES_PER_CALL = 4;
/** Collective tags stay below 2^31; the upper half of the tag space is point-to-point's. */
const TAG_WRAP = 2 ** 31 / PHASES_PER_CALL;
const P2P_TAG_BASE = 2 ** 31;
/** Point-to-point channels: tag P2P_TAG_BASE + channel. */
export const P2P_CHANNELS = 2 ** 31;

/** Element counts of `world` near-equal chunks of `count` elements. */
export function splitCounts(count: number, world: number): number[] {
  const base = Math.floor(count / world);
  const extra = count % world;
  return Array.from({ length: world }, (_, i) => base + (i < extra ? 1 : 0));
}

/** Byte offsets (length world + 1) of the chunks of a `count`-element vector. */
export function chunkOffsets(count: number, world: number, elemBytes: number): number[] {
  const offs = [0];
  for (const c of splitCounts(count, world)) offs.push(offs[offs.length - 1] + c * elemBytes);
  return offs;
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

function p2pTag(channel: number): number {
  if (!Number.isInteger(channel) || channel < 0 || channel >= P2P_CHANNELS)
    throw new Error(`point-to-point channel must be an integer in 0..2^31-1, got ${channel}`);
  return P2P_TAG_BASE + channel;
}

/** A subset of ranks addressed by their index within the subset. */
class Group {
  readonly index: number;

  constructor(
    private readonly t: PeerTransport,
    readonly ranks: readonly number[],
  ) {
    this.index = ranks.indexOf(t.rank);
    if (this.index < 0) throw new Error(`rank ${t.rank} is not in group [${ranks.join(', ')}]`);
  }

  get size(): number {
    return this.ranks.length;
  }

  /** Slice size of a ring over chunks at `offs` on this group's links (see sliceBytesFor). */
  sliceBytes(offs: number[]): number {
    return sliceBytesFor(offs, this.t.pacedLinks === true);
  }

  send(i: number, tag: number, data: Uint8Array): Promise<void> {
    return this.t.send(this.ranks[i], tag, data);
  }

  recv(i: number, tag: number, into?: Uint8Array): Promise<Buffer> {
    return this.t.recv(this.ranks[i], tag, into);
  }

  /** Done with `got`, which a receive into `into` returned: recycles it unless it is `into` itself. */
  consumed(got: Buffer, into: Uint8Array): void {
    if (got.buffer !== into.buffer) this.t.recycle?.(got);
  }

  /** Sends to the next index while receiving from the previous one (into `into` if possible): one ring step. */
  async shift(tag: number, data: Uint8Array, into?: Uint8Array): Promise<Buffer> {
    const n = this.size;
    const [, got] = await Promise.all([
      this.send((this.index + 1) % n, tag, data),
      this.recv(mod(this.index - 1, n), tag, into),
    ]);
    return got;
  }

  /**
   * A receive buffer reused across ring steps and calls: fresh multi-MiB allocations cost a page
   * fault per 4 KiB, which on some machines is slower than the network.
   */
  scratch(bytes: number): Uint8Array {
    if (!this.scratchBuf || this.scratchBuf.byteLength < bytes)
      this.scratchBuf = new Uint8Array(Math.max(bytes, 1024));
    return this.scratchBuf.subarray(0, bytes);
  }
  private scratchBuf: Uint8Array | undefined;
}

/**
 * Ring steps move chunks in slices, and a slice is forwarded as soon as it has been reduced (or
 * received), so the next hop starts while the rest of the chunk is still on the wire (NCCL
 * pipelines its rings the same way). How fine to cut depends on what sets the pace:
 * - Unpaced links (loopback, a real network): one slice per chunk, up to 16 MiB. Every message is
 *   a socket wake-up, reads and a promise chain on each side, and with more ranks than cores those
 *   wake-ups, not the bytes, set the pace; the other ranks' work fills the time a rank spends
 *   reducing a whole chunk. Measured alternating on 2 cores (busbw GB/s): 4 ranks, 4 MiB: 0.44-0.47
 *   with one slice per chunk against 0.33-0.35 with two (CPU per call 5.8-6.4 ms against 8.0-8.4);
 *   2 ranks, 4 MiB: 1.13-1.26 against 0.94-0.99; 4 ranks, 64 MiB: 0.58-0.63 with 16 MiB slices
 *   against 0.47-0.49 with 4 MiB ones.
 * - Emulated links: four slices per chunk, up to 1 MiB, so the paced queue of every link still
 *   holds bytes while its rank waits for the CPU (8 ranks on 2 cores at 1 Gb/s, 4 MiB all-reduce:
 *   two slices per chunk took 450-520 ms per call, four 280-300 ms).
 */
const SLICING = {
  unpaced: { perChunk: 1, maxBytes: 16 << 20 },
  paced: { perChunk: 4, maxBytes: 1 << 20 },
} as const;
const MIN_SLICE_BYTES = 64 * 1024;

/**
 * Slice size for a ring over chunks at `offs`: the largest chunk cut as above, at least 64 KiB.
 * A multiple of 4 KiB, hence of every element size; the same on every rank (every rank of a run
 * has the same link emulation).
 */
function sliceBytesFor(offs: number[], paced: boolean): number {
  const { perChunk, maxBytes } = paced ? SLICING.paced : SLICING.unpaced;
  const largest = Math.max(...offs.slice(1).map((o, i) => o - offs[i]));
  const share = Math.ceil(largest / perChunk / 4096) * 4096;
  return Math.min(maxBytes, Math.max(MIN_SLICE_BYTES, share));
}

/** Byte ranges of chunk c, cut into slices of `slice` bytes. */
function sliceRanges(offs: number[], c: number, slice: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = offs[c]; a < offs[c + 1]; a += slice)
    out.push([a, Math.min(a + slice, offs[c + 1])]);
  return out;
}

/** Sends without leaving a rejection unobserved while the caller is busy receiving; rethrown at the end. */
function collectSend(sends: Promise<void>[], p: Promise<void>): void {
  p.catch(() => undefined);
  sends.push(p);
}

interface RingRecv {
  step: number;
  range: [number, number];
}

function ringReceives(
  n: number,
  index: number,
  offs: number[],
  firstOffset: number,
  slice: number,
): RingRecv[] {
  const list: RingRecv[] = [];
  for (let s = 0; s < n - 1; s++)
    for (const range of sliceRanges(offs, mod(index - s - firstOffset, n), slice))
      list.push({ step: s, range });
  return list;
}

/**
 * Receives a reduce-scatter keeps posted ahead of the one being reduced, each into its own slot of
 * scratch memory: a slice that arrives before its receive is posted cannot be read in place, so
 * with the ranks of a ring sharing few cores (a neighbour runs ahead while this rank waits for
 * CPU) one slot is not enough.
 */
const REDUCE_RECEIVES_AHEAD = 4;

/** Ring reduce-scatter in place: afterwards chunk `g.index` of `buf` holds the reduction. */
async function ringReduceScatter(
  g: Group,
  tag: number,
  buf: Uint8Array,
  offs: number[],
  dtype: DType,
  op: ReduceOp,
) {
  const n = g.size;
  if (n === 1) return;
  const sends: Promise<void>[] = [];
  const next = (g.index + 1) % n;
  const prev = mod(g.index - 1, n);
  // Step s passes on the partial sum of chunk (i-s-1) and folds the neighbour's partial sum of
  // chunk (i-s-2) into ours, which is what step s+1 passes on.
  const slice = g.sliceBytes(offs);
  for (const [a, b] of sliceRanges(offs, mod(g.index - 1, n), slice))
    collectSend(sends, g.send(next, tag, buf.subarray(a, b)));
  const recvs = ringReceives(n, g.index, offs, 2, slice);
  const slots = Math.min(REDUCE_RECEIVES_AHEAD, recvs.length);
  const scratch = g.scratch(slots * slice);
  const slot = (k: number): Uint8Array => {
    const [a, b] = recvs[k].range;
    const at = (k % slots) * slice;
    return scratch.subarray(at, at + (b - a));
  };
  const pending = recvs.slice(0, slots).map((_, k) => g.recv(prev, tag, slot(k)));
  for (const p of pending) p.catch(() => undefined);
  for (let k = 0; k < recvs.length; k++) {
    const got = await pending[k];
    const [a, b] = recvs[k].range;
    const target = buf.subarray(a, b);
    if (got.byteLength !== target.byteLength) {
      throw new Error(
        `reduce-scatter length mismatch: got ${got.byteLength} bytes, expected ${target.byteLength}; do all ranks pass the same length?`,
      );
    }
    reduceInto(dtype, op, target, got);
    g.consumed(got, scratch);
    // The slot is free again: post the receive that will use it next.
    if (k + slots < recvs.length) {
      const p = g.recv(prev, tag, slot(k + slots));
      p.catch(() => undefined);
      pending.push(p);
    }
    if (recvs[k].step < n - 2) collectSend(sends, g.send(next, tag, target));
  }
  await Promise.all(sends);
}

/** The receives of a ring all-gather into `buf`, posted (each into its final place). */
interface GatherReceives {
  recvs: RingRecv[];
  pending: Promise<Buffer>[];
}

function postGatherReceives(
  g: Group,
  tag: number,
  buf: Uint8Array,
  offs: number[],
): GatherReceives {
  const recvs = ringReceives(g.size, g.index, offs, 1, g.sliceBytes(offs));
  const prev = mod(g.index - 1, g.size);
  const pending = recvs.map(({ range: [a, b] }) => g.recv(prev, tag, buf.subarray(a, b)));
  for (const p of pending) p.catch(() => undefined);
  return { recvs, pending };
}

/**
 * Ring all-gather in place: chunk `g.index` of `buf` is ours, the others are filled in. Every
 * destination is known up front, so all receives are posted first (or were, by the caller) and
 * each slice lands in place.
 */
async function ringAllGather(
  g: Group,
  tag: number,
  buf: Uint8Array,
  offs: number[],
  posted?: GatherReceives,
) {
  const n = g.size;
  if (n === 1) return;
  const { recvs, pending } = posted ?? postGatherReceives(g, tag, buf, offs);
  const sends: Promise<void>[] = [];
  const next = (g.index + 1) % n;
  for (const [a, b] of sliceRanges(offs, g.index, g.sliceBytes(offs)))
    collectSend(sends, g.send(next, tag, buf.subarray(a, b)));
  for (let k = 0; k < recvs.length; k++) {
    const got = await pending[k];
    const [a, b] = recvs[k].range;
    const target = buf.subarray(a, b);
    if (got.byteLength !== target.byteLength) {
      throw new Error(
        `all-gather length mismatch: got ${got.byteLength} bytes, expected ${target.byteLength}; do all ranks pass the same length?`,
      );
    }
    if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset) {
      target.set(got);
      g.consumed(got, buf);
    }
    if (recvs[k].step < n - 2) collectSend(sends, g.send(next, tag, target));
  }
  await Promise.all(sends);
}

function elementCount(buf: Uint8Array, dtype: DType): number {
  const size = DTYPE_BYTES[dtype];
  if (buf.byteLength % size !== 0)
    throw new Error(`${buf.byteLength} bytes is not a whole number of ${dtype} elements`);
  return buf.byteLength / size;
}

export type AllReduceAlgo = 'ring' | 'hierarchical';

export class Collectives {
  private seq = 0;
  private readonly worldGroup: Group;
  private readonly groups = new Map<string, Group>();

  constructor(
    readonly transport: PeerTransport,
    readonly topology: Topology,
  ) {
    if (topology.world !== transport.world) {
      throw new Error(
        `topology has ${topology.world} ranks but the transport has ${transport.world}`,
      );
    }
    this.worldGroup = new Group(
      transport,
      Array.from({ length: transport.world }, (_, r) => r),
    );
  }

  get rank(): number {
    return this.transport.rank;
  }

  get world(): number {
    return this.transport.world;
  }

  private group(ranks?: readonly number[]): Group {
    if (!ranks) return this.worldGroup;
    const key = ranks.join(',');
    let g = this.groups.get(key);
    if (!g) {
      if (
        new Set(ranks).size !== ranks.length ||
        ranks.some((r) => !Number.isInteger(r) || r < 0 || r >= this.world)
      ) {
        throw new Error(
          `invalid group [${key}]: ranks must be distinct integers in 0..${this.world - 1}`,
        );
      }
      g = new Group(this.transport, ranks);
      this.groups.set(key, g);
    }
    return g;
  }

  private nextTag(): number {
    const tag = (this.seq % TAG_WRAP) * PHASES_PER_CALL;
    this.seq++;
    return tag;
  }

  /** Reduces `buf` across all ranks in place and returns it. */
  async allReduce(
    buf: Uint8Array,
    dtype: DType,
    op: ReduceOp,
    algo: AllReduceAlgo = 'ring',
    ranks?: readonly number[],
  ): Promise<Uint8Array> {
    checkOpSupported(dtype, op);
    const count = elementCount(buf, dtype);
    const tag = this.nextTag();
    const topo = this.topology;
    const g = this.group(ranks);
    if (!ranks && algo === 'hierarchical' && topo.nodes > 1 && topo.ranksPerNode > 1) {
      // Step 1: reduce-scatter inside the node; local rank l owns chunk l of the node's sum.
      const local = new Group(this.transport, topo.nodeRanks(topo.nodeOf(this.rank)));
      const offs = chunkOffsets(count, local.size, DTYPE_BYTES[dtype]);
      await ringReduceScatter(local, tag, buf, offs, dtype, op);
      // Step 2: all-reduce that chunk across nodes (only 1/ranksPerNode of the data crosses nodes).
      const cross = new Group(this.transport, topo.peersAcrossNodes(local.index));
      const mine = buf.subarray(offs[local.index], offs[local.index + 1]);
      const crossOffs = chunkOffsets(
        mine.byteLength / DTYPE_BYTES[dtype],
        cross.size,
        DTYPE_BYTES[dtype],
      );
      await ringReduceScatter(cross, tag + 1, mine, crossOffs, dtype, op);
      await ringAllGather(cross, tag + 2, mine, crossOffs);
      // Step 3: all-gather the reduced chunks inside the node.
      await ringAllGather(local, tag + 3, buf, offs);
      return buf;
    }
    const offs = chunkOffsets(count, g.size, DTYPE_BYTES[dtype]);
    // The gather's receives go up before the reduce-scatter starts, straight into `buf`, so no
    // gathered slice that a fast neighbour sends early lands outside its place. Safe: the reduced
    // slice of a chunk can only come back around the ring after this rank has sent its own partial
    // sum of that slice, and the reduce-scatter never touches it again after that send.
    const gather = g.size > 1 ? postGatherReceives(g, tag + 1, buf, offs) : undefined;
    await ringReduceScatter(g, tag, buf, offs, dtype, op);
    await ringAllGather(g, tag + 1, buf, offs, gather);
    return buf;
  }

  /**
   * Reduces `buf` (the full vector, clobbered as scratch) and returns this rank's chunk of the
   * result (a view into `buf`).
   */
  async reduceScatter(
    buf: Uint8Array,
    dtype: DType,
    op: ReduceOp,
    ranks?: readonly number[],
  ): Promise<Uint8Array> {
    checkOpSupported(dtype, op);
    const g = this.group(ranks);
    const offs = chunkOffsets(elementCount(buf, dtype), g.size, DTYPE_BYTES[dtype]);
    await ringReduceScatter(g, this.nextTag(), buf, offs, dtype, op);
    return buf.subarray(offs[g.index], offs[g.index + 1]);
  }

  /**
   * Gathers every rank's chunk into one vector of `totalCount` elements laid out as
   * `splitCounts(totalCount, world)`; `chunk` must be this rank's part of that layout.
   */
  async allGather(
    chunk: Uint8Array,
    dtype: DType,
    totalCount: number,
    ranks?: readonly number[],
  ): Promise<Uint8Array> {
    const g = this.group(ranks);
    const offs = chunkOffsets(totalCount, g.size, DTYPE_BYTES[dtype]);
    const mineBytes = offs[g.index + 1] - offs[g.index];
    if (chunk.byteLength !== mineBytes) {
      throw new Error(
        `all-gather: rank ${this.rank} must contribute ${mineBytes} bytes of a ${totalCount}-element vector, got ${chunk.byteLength}`,
      );
    }
    const out = new Uint8Array(offs[g.size]);
    out.set(chunk, offs[g.index]);
    return this.allGatherInPlace(out, dtype, totalCount, ranks);
  }

  /** All-gather into `buf` (the whole vector), whose own chunk is already in place. */
  async allGatherInPlace(
    buf: Uint8Array,
    dtype: DType,
    totalCount: number,
    ranks?: readonly number[],
  ): Promise<Uint8Array> {
    const g = this.group(ranks);
    const offs = chunkOffsets(totalCount, g.size, DTYPE_BYTES[dtype]);
    if (buf.byteLength !== offs[g.size]) {
      throw new Error(
        `all-gather: a ${totalCount}-element ${dtype} vector needs ${offs[g.size]} bytes, got ${buf.byteLength}`,
      );
    }
    await ringAllGather(g, this.nextTag(), buf, offs);
    return buf;
  }

  /** Every rank contributes a payload of any size; every rank gets all payloads, by rank. */
  async allGatherV(payload: Uint8Array, ranks?: readonly number[]): Promise<Uint8Array[]> {
    const g = this.group(ranks);
    const n = g.size;
    const tag = this.nextTag();
    const parts: Uint8Array[] = new Array(n);
    parts[g.index] = payload;
    for (let s = 0; s < n - 1; s++) {
      parts[mod(g.index - s - 1, n)] = await g.shift(tag, parts[mod(g.index - s, n)]);
    }
    return parts;
  }

  /**
   * Personalised exchange: `parts[j]` (any size) goes to the j-th rank of the group; returns what
   * every rank sent to this one, by group index. The pattern of an owner-decodes reduce-scatter
   * for compressed formats that cannot be summed on the way.
   */
  async allToAllV(
    parts: Uint8Array[],
    ranks?: readonly number[],
    /** Called once every part has been handed to the network (before the last part arrives). */
    onSent?: () => void,
  ): Promise<Uint8Array[]> {
    const g = this.group(ranks);
    if (parts.length !== g.size)
      throw new Error(`all-to-all needs one part per rank (${g.size}), got ${parts.length}`);
    const tag = this.nextTag();
    const n = g.size;
    const out: Uint8Array[] = new Array(n);
    out[g.index] = parts[g.index];
    // Rank i sends to i+1, i+2, ... in that order (a shifted schedule): the parts leave a shared
    // NIC one after another, and in every phase each rank receives from one peer, where sending
    // to 0, 1, ... from every rank would pile every rank's first part onto rank 0 at once.
    const peers = Array.from({ length: n - 1 }, (_, k) => mod(g.index + k + 1, n));
    const sent = Promise.all(peers.map((j) => g.send(j, tag, parts[j])));
    if (onSent) void sent.then(onSent, () => undefined);
    const got = await Promise.all([sent, ...peers.map((j) => g.recv(j, tag))]);
    peers.forEach((j, k) => (out[j] = got[k + 1] as Uint8Array));
    return out;
  }

  /**
   * Reduces to `root` (reduce-scatter, then every rank sends its reduced chunk to the root).
   * The root gets the full reduced vector; other ranks get null. `buf` is clobbered.
   */
  async reduce(
    buf: Uint8Array,
    dtype: DType,
    op: ReduceOp,
    root: number,
    ranks?: readonly number[],
  ): Promise<Uint8Array | null> {
    checkOpSupported(dtype, op);
    this.checkRoot(root);
    const g = this.group(ranks);
    const rootIndex = g.ranks.indexOf(root);
    if (rootIndex < 0) throw new Error(`root ${root} is not in group [${g.ranks.join(', ')}]`);
    const tag = this.nextTag();
    const offs = chunkOffsets(elementCount(buf, dtype), g.size, DTYPE_BYTES[dtype]);
    await ringReduceScatter(g, tag, buf, offs, dtype, op);
    if (g.index !== rootIndex) {
      await g.send(rootIndex, tag + 1, buf.subarray(offs[g.index], offs[g.index + 1]));
      return null;
    }
    await Promise.all(
      Array.from({ length: g.size }, async (_, j) => {
        if (j === rootIndex) return;
        const target = buf.subarray(offs[j], offs[j + 1]);
        const got = await g.recv(j, tag + 1, target);
        if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset)
          target.set(got.subarray(0, target.byteLength));
      }),
    );
    return buf;
  }

  /**
   * Broadcasts root's `buf` (same length on every rank) as scatter + ring all-gather, so the root
   * sends about one copy of the data rather than world-1 copies.
   */
  async broadcast(buf: Uint8Array, root: number): Promise<Uint8Array> {
    this.checkRoot(root);
    const tag = this.nextTag();
    const offs = chunkOffsets(buf.byteLength, this.world, 1);
    if (this.rank === root) {
      await Promise.all(
        Array.from({ length: this.world }, (_, r) =>
          r === root ? undefined : this.transport.send(r, tag, buf.subarray(offs[r], offs[r + 1])),
        ),
      );
    } else {
      const got = await this.transport.recv(root, tag);
      if (got.byteLength !== offs[this.rank + 1] - offs[this.rank]) {
        throw new Error(
          `broadcast length mismatch: rank ${this.rank} passed ${buf.byteLength} bytes, root ${root} sent a different length`,
        );
      }
      buf.set(got, offs[this.rank]);
    }
    await ringAllGather(this.worldGroup, tag + 1, buf, offs);
    return buf;
  }

  /** Sends `buf` to `peer` on `channel`; resolves once the bytes are handed to the network. */
  sendTo(peer: number, channel: number, buf: Uint8Array): Promise<void> {
    return this.transport.send(this.p2pPeer(peer), p2pTag(channel), buf);
  }

  /** The next message from `peer` on `channel` (any length). */
  recvFrom(peer: number, channel: number): Promise<Uint8Array> {
    return this.transport.recv(this.p2pPeer(peer), p2pTag(channel));
  }

  private p2pPeer(peer: number): number {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.world || peer === this.rank)
      throw new Error(
        `point-to-point peer must be another rank in 0..${this.world - 1}, got ${peer} (this is rank ${this.rank})`,
      );
    return peer;
  }

  /** Dissemination barrier: ceil(log2 world) rounds of empty messages. */
  async barrier(): Promise<void> {
    const tag = this.nextTag();
    const empty = new Uint8Array(0);
    for (let k = 1; k < this.world; k *= 2) {
      await Promise.all([
        this.transport.send((this.rank + k) % this.world, tag, empty),
        this.transport.recv(mod(this.rank - k, this.world), tag),
      ]);
    }
  }

  private checkRoot(root: number): void {
    if (!Number.isInteger(root) || root < 0 || root >= this.world) {
      throw new Error(`root must be a rank in 0..${this.world - 1}, got ${root}`);
    }
  }
}
