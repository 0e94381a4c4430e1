/**
 * An in-memory PeerTransport for `world` ranks living in one process. It copies on send (like a
 * socket would) and delivers asynchronously, so algorithms see the same interleavings they would
 * over TCP, minus the bytes on a wire.
 */
import { Mailbox } from './mailbox.js';
import type { PeerTransport } from './transport.js';

export function createLocalMesh(world: number): PeerTransport[] {
  const boxes = Array.from({ length: world }, () => new Mailbox());
  return boxes.map((box, rank) => ({
    rank,
    world,
    send(peer: number, tag: number, data: Uint8Array): Promise<void> {
      if (peer < 0 || peer >= world || peer === rank)
        return Promise.reject(new Error(`bad peer ${peer}`));
      const copy = Buffer.from(data);
      setImmediate(() => boxes[peer].deliver(rank, tag, copy));
      return Promise.resolve();
    },
    recv(peer: number, tag: number, into?: Uint8Array): Promise<Buffer> {
      return box.take(peer, tag, into);
    },
    close(): Promise<void> {
      box.fail(new Error('mesh closed'));
      return Promise.resolve();
    },
  }));
}
