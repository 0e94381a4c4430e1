/**
 * An all-to-all over emulated links, on real sockets: with a shared NIC a rank's parts for its
 * peers leave one after another, so the exchange takes at least (peers x part) / rate; with a link
 * per pair they leave side by side. Both deliver every part intact.
 */
import { describe, expect, it } from 'vitest';
import type { NetworkConfig } from '../../engine/comm/emulation.js';
import type { ProcessGroup } from '../../engine/comm/process-group.js';
import { localGroups } from '../helpers/process-groups.js';

const WORLD = 3;
const PART_BYTES = 400_000;
/** 0.08 Gb/s: 10 000 bytes per ms, so one part takes 40 ms on the wire. */
const LINK = { gbps: 0.08, latencyUs: 0 };
const PART_MS = PART_BYTES / 10_000;

async function groups(network: NetworkConfig): Promise<ProcessGroup[]> {
  return (await localGroups(WORLD, { network })).groups;
}

const part = (from: number, to: number): Uint8Array =>
  Uint8Array.from({ length: PART_BYTES }, (_, i) => (from * 31 + to * 7 + i) & 0xff);

/** Runs one all-to-all on every rank; returns the slowest rank's time and checks every part. */
async function exchange(gs: ProcessGroup[]): Promise<number> {
  const t0 = performance.now();
  const got = await Promise.all(
    gs.map((g, r) => g.collectives.allToAllV(Array.from({ length: WORLD }, (_, j) => part(r, j)))),
  );
  const ms = performance.now() - t0;
  got.forEach((parts, r) =>
    parts.forEach((p, from) => expect(Buffer.compare(p, part(from, r))).toBe(0)),
  );
  return ms;
}

describe('emulated NICs under an all-to-all', () => {
  it('a shared NIC sends the parts one after another; per-pair links deliver the same bytes', async () => {
    const shared = await groups({ intra: LINK, inter: LINK });
    try {
      await exchange(shared); // connections and buffers warm
      const ms = await exchange(shared);
      // Two parts leave each rank through one NIC: at least twice a part's wire time (the
      // pacer may release up to one 1 ms timer tick early per fragment, hence the slack).
      expect(ms).toBeGreaterThanOrEqual(2 * PART_MS - 3);
    } finally {
      await Promise.all(shared.map((g) => g.shutdown()));
    }
    const perPair = await groups({ intra: LINK, inter: LINK, sharedNic: false });
    try {
      const ms = await exchange(perPair);
      expect(ms).toBeGreaterThanOrEqual(PART_MS - 3);
    } finally {
      await Promise.all(perPair.map((g) => g.shutdown()));
    }
  });
});
