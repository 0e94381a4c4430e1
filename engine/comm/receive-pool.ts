/**
 * Memory for messages that arrive before their receive is posted. Such a message needs a buffer
 * of its own until the receive takes it; a fresh multi-MiB allocation costs a page fault and a
 * zeroed page per 4 KiB (as much CPU as the loopback copy itself on a busy machine), so buffers the
 * collectives are done with come back here and the next early message of that size reuses one.
 */

/** Below this, fresh allocations come from Node's shared slab and cost nothing worth pooling. */
const MIN_POOLED_BYTES = 64 * 1024;

export class ReceivePool {
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** A buffer of exactly `bytes`, reused when one is free. */
  take(bytes: number): Buffer {
    const b = this.free.get(bytes)?.pop();
    if (!b) return Buffer.allocUnsafe(bytes);
    this.pooledBytes -= bytes;
    return b;
  }

  /** Returns a buffer that nothing references any more. */
  give(b: Buffer): void {
    const bytes = b.byteLength;
    // Only whole allocations: a view into a larger buffer would pin (and later hand out) its parent.
    if (bytes < MIN_POOLED_BYTES || b.byteOffset !== 0 || b.buffer.byteLength !== bytes) return;
    if (this.pooledBytes + bytes > this.maxBytes) return;
    const list = this.free.get(bytes);
    if (list) list.push(b);
    else this.free.set(bytes, [b]);
    this.pooledBytes += bytes;
  }
}
