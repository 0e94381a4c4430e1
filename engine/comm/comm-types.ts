import type { CommClient } from './comm-client.js';
import type { GroupCollective } from './worker-protocol.js';

export type ShardingStrategy = 'FULL_SHARD' | 'SHARD_GRAD_OP' | 'NO_SHARD' | 'HYBRID_SHARD';

/** The collectives a rank's training loop uses (implemented by CommClient). */
export type Comm = Pick<CommClient, GroupCollective | 'recycle' | 'stats' | 'rank' | 'world'>;
