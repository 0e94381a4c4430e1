/**
 * What the collectives need from a network: point-to-point, tag-matched, reliable, in-order
 * messages between ranks. Implemented by the TCP mesh (real processes) and by the in-memory mesh
 * (tests of the algorithms in one process).
 */
export interface PeerTransport {
  readonly rank: number;
  readonly world: number;
  /**
   * Sends `data` to `peer`. The promise resolves once the bytes are handed to the OS (or copied),
   * after which the caller may reuse `data`.
   */
  send(peer: number, tag: number, data: Uint8Array): Promise<void>;
  /**
   * The next message from `peer` with `tag`. With `into`, a message of exactly that size may be
   * written straight into it (the result is then a view of `into`); callers must accept a
   * different buffer too, and copy or read from whichever they get.
   */
  recv(peer: number, tag: number, into?: Uint8Array): Promise<Buffer>;
  /**
   * Hands back a buffer that `recv` returned (not the caller's own `into`) once nothing refers to
   * it any more, so a later early-arriving message can reuse its memory. Optional.
   */
  recycle?(received: Buffer): void;
  /**
   * True when sends are paced to an emulated link: rings then cut their chunks finer, so a link
   * keeps bytes queued while a rank waits for the CPU. Optional (false).
   */
  readonly pacedLinks?: boolean;
  close(): Promise<void>;
}

/** A failure attributed to one rank, e.g. its process died and its link closed. */
export class PeerError extends Error {
  override name = 'PeerError';
  constructor(
    readonly peer: number,
    message: string,
  ) {
    super(message);
  }
}
