/**
 * Memory for messages that arrive before their receive is posted. Such a message needs a buffer
 * of its own until the receive takes it; a fresh multi-MiB allocation costs a page fault and a
 * zeroed page per 4 KiB (as much CPU as the loopback copy itself on a busy machine), so buffers the
 * collectives are done with come back here and the next early message of that size reuses one.
 */

/** Below this, fresh allocations come from Node's shared slab and cost nothing worth pooling. */
const MIN_POOLED_BYTES = 64 * 1024;

export class ReceivePool {
  /** Free buffers, oldest first (a Map keeps insertion order): the first to go when room is short. */
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** A buffer of exactly `bytes`, reused when one is free. */
  take(bytes: number): Buffer {
    const list = this.free.get(bytes);
    const b = list?.pop();
    if (!b) return Buffer.allocUnsafe(bytes);
    if (list!.length === 0) this.free.delete(bytes);
    this.pooledBytes -= bytes;
    return b;
  }

  /**
   * Returns a buffer that nothing references any more. When the pool is full, buffers of the sizes
   * given back longest ago make room: a run's message sizes change (another model, a benchmark's
   * next size), and memory kept for sizes no longer used must not keep the current ones out.
   */
  give(b: Buffer): void {
    const bytes = b.byteLength;
    // Only whole allocations: a view into a larger buffer would pin (and later hand out) its parent.
    if (bytes < MIN_POOLED_BYTES || b.byteOffset !== 0 || b.buffer.byteLength !== bytes) return;
    if (bytes > this.maxBytes) return;
    for (const [size, list] of this.free) {
      if (this.pooledBytes + bytes <= this.maxBytes) break;
      if (size === bytes) continue;
      this.pooledBytes -= size * list.length;
      this.free.delete(size);
    }
    if (this.pooledBytes + bytes > this.maxBytes) return;
    const list = this.free.get(bytes) ?? [];
    list.push(b);
    // Re-inserted, this size becomes the most recently used.
    this.free.delete(bytes);
    this.free.set(bytes, list);
    this.pooledBytes += bytes;
  }
}
