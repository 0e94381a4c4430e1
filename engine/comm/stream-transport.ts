/**
 * Comm streams: each rank runs independent queues of collectives (parameter gathers on one,
 * gradient reductions on the other, as FSDP puts them on separate CUDA streams), so a gather
 * never waits behind a slow reduction. Each stream has its own Collectives instance, hence its
 * own tag sequence; this transport keeps those sequences apart on the shared links by giving
 * every stream its own share of the collective tag space.
 */
import type { PeerTransport } from './transport.js';

/** Streams per rank: 0 carries parameters (and any default traffic), 1 gradient reductions. */
export const COMM_STREAMS = 2;
export const PARAM_STREAM = 0;
export const GRAD_STREAM = 1;

/** Collective tags lie below 2^31 (point-to-point uses the upper half; wire.ts carries u32). */
const COLLECTIVE_TAGS = 2 ** 31;
const STREAM_SPAN = COLLECTIVE_TAGS / COMM_STREAMS;

/**
 * Stream `s`'s view of `t`: collective tag x travels as (x mod span) + s * span, so two streams'
 * n-th calls never match each other's messages. A stream's sequence wraps after span / 4 calls
 * (2^28), as the single sequence wrapped after 2^29. Point-to-point tags pass through unchanged.
 */
export function streamTransport(t: PeerTransport, s: number): PeerTransport {
  if (!Number.isInteger(s) || s < 0 || s >= COMM_STREAMS)
    throw new Error(`comm stream must be an integer in 0..${COMM_STREAMS - 1}, got ${s}`);
  const map = (tag: number): number =>
    tag >= COLLECTIVE_TAGS ? tag : (tag % STREAM_SPAN) + s * STREAM_SPAN;
  return {
    rank: t.rank,
    world: t.world,
    send: (peer, tag, data) => t.send(peer, map(tag), data),
    recv: (peer, tag, into) => t.recv(peer, map(tag), into),
    ...(t.recycle ? { recycle: (received: Buffer) => t.recycle!(received) } : {}),
    pacedLinks: t.pacedLinks,
    close: () => t.close(),
  };
}
