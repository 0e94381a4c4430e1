/** Messages between a rank's compute thread (CommClient) and its comm worker thread. */
import type { AllReduceAlgo } from './collectives.js';
import type { CommConfigInput } from './config.js';
import type { DType, ReduceOp } from './dtype.js';

/** The collectives a process group runs; the training loop's Comm and the ordered stream take these. */
export const GROUP_COLLECTIVES = [
  'allReduce',
  'reduceScatter',
  'allGather',
  'allGatherV',
  'allToAllV',
  'reduce',
  'broadcast',
  'barrier',
] as const;
export type GroupCollective = (typeof GROUP_COLLECTIVES)[number];

/** Every operation a compute thread asks its comm worker for: the group's, and point-to-point. */
export type CollectiveName = GroupCollective | 'send' | 'recv';

export interface OpRequest {
  kind: 'op';
  id: number;
  op: CollectiveName;
  /** The operand in a staging buffer moved (not copied) to the worker and moved back with the result. */
  data: Uint8Array;
  dtype: DType;
  reduceOp: ReduceOp;
  root: number;
  algo: AllReduceAlgo;
  /** allGather: element count of the gathered vector. */
  totalCount: number;
  /** Subgroup to run on (default: all ranks). */
  ranks?: number[];
  /** allToAllV: byte length of each rank's payload, packed one after another in `data`. */
  partBytes?: number[];
  /** Comm stream (stream-transport.ts): its own queue and tag sequence; default 0. */
  stream?: number;
  /** send / recv: the other rank and the point-to-point channel. */
  peer?: number;
  channel?: number;
}

export type ToWorker =
  | { kind: 'init'; config: CommConfigInput }
  | OpRequest
  /** Memory of received parts the compute thread is done with, moved back for later receives. */
  | { kind: 'recycle'; buffers: ArrayBuffer[] }
  | { kind: 'shutdown' }
  | { kind: 'abort' };

export type FromWorker =
  | { kind: 'ready'; rank: number; world: number }
  | { kind: 'initError'; message: string }
  | {
      kind: 'done';
      id: number;
      data: Uint8Array | null;
      staging: Uint8Array;
      parts?: Uint8Array[];
      ms: number;
      /** Bytes this rank's links have sent to each peer so far (index = peer rank). */
      sentByPeer: number[];
    }
  | { kind: 'opError'; id: number; message: string; peer?: number; staging: Uint8Array }
  | { kind: 'failed'; message: string; peer?: number }
  | { kind: 'rejected'; reason: string }
  | { kind: 'traffic'; sent: number; received: number }
  /** About once a second: the peers a receive waits on (a stalled link shows up here). */
  | { kind: 'waiting'; peers: number[] }
  | { kind: 'closed' };
