import { afterEach, describe, expect, it, vi } from 'vitest';
import { commConfigFromEnv, rankEnv } from '../../engine/comm/config.js';
import {
  EmulatedNics,
  LINK_PRESETS,
  Pacer,
  Topology,
  linkSpecFor,
  resolveTier,
} from '../../engine/comm/emulation.js';

afterEach(() => vi.useRealTimers());

describe('pacer', () => {
  it('releases fragments when the emulated wire has serialized them, plus the latency', () => {
    vi.useFakeTimers();
    const clock = (): number => Date.now();
    const start = clock();
    const written: number[] = [];
    // 1 Gb/s = 125 000 bytes per ms; 50 us latency.
    const p = new Pacer({ gbps: 1, latencyUs: 50 }, clock);
    for (let i = 0; i < 4; i++) p.enqueue(250_000, () => written.push(clock() - start));
    vi.advanceTimersByTime(1);
    expect(written).toEqual([]);
    vi.advanceTimersByTime(50);
    // Due at 2.05, 4.05, 6.05, 8.05 ms: timers fire on whole milliseconds at or after that.
    expect(written).toHaveLength(4);
    written.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(2 * (i + 1) + 0.05 - 1);
      expect(t).toBeLessThanOrEqual(2 * (i + 1) + 1.1);
    });
  });

  it('does not bank idle time: a burst after a pause is still paced', () => {
    vi.useFakeTimers();
    const clock = (): number => Date.now();
    const p = new Pacer({ gbps: 8, latencyUs: 0 }, clock); // 1 000 000 bytes per ms
    const times: number[] = [];
    vi.advanceTimersByTime(100);
    const t0 = clock();
    for (let i = 0; i < 3; i++) p.enqueue(3_000_000, () => times.push(clock() - t0));
    vi.advanceTimersByTime(20);
    // Due at 3, 6 and 9 ms; released up to one timer tick early, never later than a tick.
    expect(times).toHaveLength(3);
    times.forEach((t, i) => {
      expect(t).toBeGreaterThanOrEqual(3 * (i + 1) - 1);
      expect(t).toBeLessThanOrEqual(3 * (i + 1) + 1);
    });
  });
});

describe('topology and presets', () => {
  it('groups ranks into contiguous nodes and picks the tier per link', () => {
    const topo = new Topology(8, 2);
    expect(topo.nodeRanks(1)).toEqual([4, 5, 6, 7]);
    expect(topo.peersAcrossNodes(2)).toEqual([2, 6]);
    const net = { intra: 'NVLink', inter: '1GbE' } as const;
    expect(linkSpecFor(topo, net, 0, 3)).toEqual(LINK_PRESETS.NVLink);
    expect(linkSpecFor(topo, net, 3, 4)).toEqual(LINK_PRESETS['1GbE']);
    expect(linkSpecFor(topo, { intra: 'off', inter: { gbps: 0.1, latencyUs: 500 } }, 0, 5)).toEqual(
      { gbps: 0.1, latencyUs: 500 },
    );
    expect(resolveTier('off')).toBeUndefined();
  });

  it("gives a rank one NIC per tier, shared by that tier's peers, or a pacer per pair", () => {
    const topo = new Topology(6, 2); // nodes {0,1,2} and {3,4,5}
    const net = { intra: '10GbE', inter: '1GbE' } as const;
    const shared = new EmulatedNics(topo, net, 0);
    expect(shared.pacerFor(1)).toBe(shared.pacerFor(2));
    expect(shared.pacerFor(3)).toBe(shared.pacerFor(5));
    expect(shared.pacerFor(1)).not.toBe(shared.pacerFor(3));
    const perPair = new EmulatedNics(topo, { ...net, sharedNic: false }, 0);
    expect(perPair.pacerFor(3)).toBeInstanceOf(Pacer);
    expect(perPair.pacerFor(3)).not.toBe(perPair.pacerFor(4));
    const rawInside = new EmulatedNics(topo, { intra: 'off', inter: '1GbE' }, 4);
    expect(rawInside.pacerFor(5)).toBeUndefined();
    expect(rawInside.pacerFor(0)).toBeInstanceOf(Pacer);
  });

  it('rejects impossible layouts and unknown presets with the fix in the message', () => {
    expect(() => new Topology(6, 4)).toThrow(/nodes must divide the world size \(6\), got 4/);
    expect(() => resolveTier('5GbE')).toThrow(/unknown link preset "5GbE"; use one of NVLink/);
  });
});

describe('rank environment', () => {
  it('round-trips through the torchrun-style variables', () => {
    const env = rankEnv({
      rank: 3,
      world: 4,
      localWorld: 2,
      masterAddr: '10.0.0.1',
      masterPort: 29500,
      token: 'x'.repeat(20),
      network: { intra: 'off', inter: '25GbE' },
    });
    expect(env).toMatchObject({
      RANK: '3',
      WORLD_SIZE: '4',
      LOCAL_RANK: '1',
      LOCAL_WORLD_SIZE: '2',
    });
    const c = commConfigFromEnv(env);
    expect(c).toMatchObject({
      rank: 3,
      world: 4,
      localWorld: 2,
      masterPort: 29500,
      network: { inter: '25GbE' },
    });
  });

  it('names every bad variable', () => {
    expect(() =>
      commConfigFromEnv({
        RANK: '5',
        WORLD_SIZE: '4',
        MASTER_ADDR: 'h',
        MASTER_PORT: 'abc',
        GRADBENCH_TOKEN: 'short',
      }),
    ).toThrow(
      /MASTER_PORT: "abc" is not a whole number\nGRADBENCH_TOKEN: the run token must be at least 16 characters/,
    );
    expect(() =>
      commConfigFromEnv({
        RANK: '5',
        WORLD_SIZE: '4',
        MASTER_ADDR: 'h',
        MASTER_PORT: '1',
        GRADBENCH_TOKEN: 'y'.repeat(16),
      }),
    ).toThrow(/RANK: rank 5 must be below the world size 4/);
    expect(() =>
      commConfigFromEnv({
        RANK: '0',
        WORLD_SIZE: '6',
        LOCAL_WORLD_SIZE: '4',
        MASTER_ADDR: 'h',
        MASTER_PORT: '1',
        GRADBENCH_TOKEN: 'y'.repeat(16),
      }),
    ).toThrow(/LOCAL_WORLD_SIZE: LOCAL_WORLD_SIZE 4 must divide WORLD_SIZE 6/);
  });
});
