/**
 * Tag-matched receive queues: a message that arrives before anyone asked for it waits here, and a
 * receive posted before its message arrives waits for it. Once failed, every pending and future
 * receive rejects with the same error (the first failure wins, so the error names its cause).
 */
interface Waiter {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  /** Where the caller would like the message written (receive without an extra copy). */
  into?: Uint8Array;
  claimed?: boolean;
}

export class Mailbox {
  private queued = new Map<string, Buffer[]>();
  private waiting = new Map<string, Waiter[]>();
  private failure: Error | undefined;

  get error(): Error | undefined {
    return this.failure;
  }

  deliver(peer: number, tag: number, data: Buffer): void {
    if (this.failure) return;
    const key = `${peer}:${tag}`;
    const w = this.waiting.get(key);
    if (w && w.length > 0) {
      const first = w.shift()!;
      if (w.length === 0) this.waiting.delete(key);
      first.resolve(data);
      return;
    }
    const q = this.queued.get(key);
    if (q) q.push(data);
    else this.queued.set(key, [data]);
  }

  /**
   * Called when a message of `total` bytes from `peer` starts arriving: if the receive it will
   * complete asked for a destination of that size, returns that destination to decode into.
   */
  claim(peer: number, tag: number, total: number): Buffer | undefined {
    const head = this.waiting.get(`${peer}:${tag}`)?.[0];
    if (
      !head?.into ||
      head.claimed ||
      head.into.buffer.byteLength === 0 ||
      head.into.byteLength !== total ||
      this.queued.has(`${peer}:${tag}`)
    )
      return undefined;
    head.claimed = true;
    return Buffer.from(head.into.buffer, head.into.byteOffset, head.into.byteLength);
  }

  /** Receives that asked for a destination inside `buffer` stop waiting (the buffer is going away). */
  forget(buffer: ArrayBufferLike): void {
    for (const [key, ws] of this.waiting) {
      const keep = ws.filter((w) => w.into?.buffer !== buffer);
      if (keep.length === 0) this.waiting.delete(key);
      else if (keep.length !== ws.length) this.waiting.set(key, keep);
    }
  }

  take(peer: number, tag: number, into?: Uint8Array): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const key = `${peer}:${tag}`;
    const q = this.queued.get(key);
    if (q && q.length > 0) {
      const data = q.shift()!;
      if (q.length === 0) this.queued.delete(key);
      return Promise.resolve(data);
    }
    return new Promise((resolve, reject) => {
      const w = this.waiting.get(key);
      if (w) w.push({ resolve, reject, into });
      else this.waiting.set(key, [{ resolve, reject, into }]);
    });
  }

  /** Peers that a posted receive is still waiting on (what a stalled collective waits for). */
  waitingPeers(): number[] {
    const peers = new Set<number>();
    for (const [key, ws] of this.waiting) if (ws.length > 0) peers.add(Number(key.split(':')[0]));
    return [...peers].sort((a, b) => a - b);
  }

  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const ws of this.waiting.values()) for (const w of ws) w.reject(err);
    this.waiting.clear();
    this.queued.clear();
  }
}
