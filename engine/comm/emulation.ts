/**
 * Link emulation: loopback TCP is ~GB/s with microsecond latency, so a speedup from compression
 * only means something on an emulated link. Every directed link gets `{gbps, latencyUs}` from one
 * of two tiers (intra-node, inter-node); ranks are grouped into contiguous nodes. By default a
 * rank's sends on one tier share one emulated NIC (see EmulatedNics).
 *
 * Pacing is a token bucket whose depth is one fragment: each fragment leaves when the emulated
 * wire has finished serializing everything queued before it (a virtual clock, so timer jitter
 * never accumulates), and reaches the socket `latencyUs` later.
 */
import { z } from 'zod';

export const LinkSpecSchema = z.object({
  gbps: z.number().positive().max(100_000),
  latencyUs: z.number().min(0).max(10_000_000),
});
export type LinkSpec = z.infer<typeof LinkSpecSchema>;

/** One-direction bandwidth and latency of common interconnects. */
export const LINK_PRESETS = {
  NVLink: { gbps: 2400, latencyUs: 2 }, // NVLink 4: 300 GB/s per direction between a GPU pair
  PCIe4x16: { gbps: 252, latencyUs: 5 },
  IB200: { gbps: 200, latencyUs: 2 },
  '100GbE': { gbps: 100, latencyUs: 10 },
  '25GbE': { gbps: 25, latencyUs: 20 },
  '10GbE': { gbps: 10, latencyUs: 30 },
  '1GbE': { gbps: 1, latencyUs: 50 },
} as const satisfies Record<string, LinkSpec>;
export type LinkPresetName = keyof typeof LINK_PRESETS | 'off';
export const LINK_PRESET_NAMES = [...Object.keys(LINK_PRESETS), 'off'] as LinkPresetName[];

const TierSchema = z.union([z.enum(LINK_PRESET_NAMES as [string, ...string[]]), LinkSpecSchema]);

export const NetworkSchema = z.object({
  intra: TierSchema.default('off'),
  inter: TierSchema.default('off'),
  /** A rank's sends on one tier share one emulated NIC (true), or each rank pair has its own link. */
  sharedNic: z.boolean().default(true),
});
export type NetworkConfig = z.input<typeof NetworkSchema>;

/** A tier resolved to numbers; `undefined` means the raw link (no emulation). */
export function resolveTier(tier: string | LinkSpec): LinkSpec | undefined {
  if (typeof tier !== 'string') return tier;
  if (tier === 'off') return undefined;
  const preset = (LINK_PRESETS as Record<string, LinkSpec>)[tier];
  if (!preset)
    throw new Error(`unknown link preset "${tier}"; use one of ${LINK_PRESET_NAMES.join(', ')}`);
  return preset;
}

/** How ranks are grouped into nodes: `nodes` equal, contiguous groups. */
export class Topology {
  readonly ranksPerNode: number;

  constructor(
    readonly world: number,
    readonly nodes: number,
  ) {
    if (!Number.isInteger(world) || world < 1)
      throw new Error(`world size must be a positive integer, got ${world}`);
    if (!Number.isInteger(nodes) || nodes < 1 || world % nodes !== 0) {
      throw new Error(`nodes must divide the world size (${world}), got ${nodes}`);
    }
    this.ranksPerNode = world / nodes;
  }

  nodeOf(rank: number): number {
    return Math.floor(rank / this.ranksPerNode);
  }

  localRank(rank: number): number {
    return rank % this.ranksPerNode;
  }

  sameNode(a: number, b: number): boolean {
    return this.nodeOf(a) === this.nodeOf(b);
  }

  /** Ranks of one node, in order. */
  nodeRanks(node: number): number[] {
    return Array.from({ length: this.ranksPerNode }, (_, i) => node * this.ranksPerNode + i);
  }

  /** Ranks with the same local rank on every node (the inter-node ring of a hierarchical op). */
  peersAcrossNodes(localRank: number): number[] {
    return Array.from({ length: this.nodes }, (_, n) => n * this.ranksPerNode + localRank);
  }
}

/** The emulated spec of the directed link a -> b. */
export function linkSpecFor(
  topo: Topology,
  network: NetworkConfig,
  a: number,
  b: number,
): LinkSpec | undefined {
  const net = NetworkSchema.parse(network);
  return resolveTier(topo.sameNode(a, b) ? net.intra : net.inter);
}

/**
 * The emulated NICs of one rank. With `sharedNic`, every send to a peer of one tier goes through
 * one pacer, as a GPU's traffic shares its NIC (or its NVSwitch port); without it, every directed
 * link is paced on its own. Rings send to one peer at a time and see no difference. An
 * all-to-all sends to every peer at once: on per-pair links it would get n - 1 links' worth of
 * bandwidth, which no cluster gives a GPU, and methods built on it would look faster than they are.
 */
export class EmulatedNics {
  private readonly net: z.output<typeof NetworkSchema>;
  private readonly shared = new Map<'intra' | 'inter', Pacer>();
  private readonly all: Pacer[] = [];

  constructor(
    private readonly topo: Topology,
    network: NetworkConfig,
    private readonly rank: number,
  ) {
    this.net = NetworkSchema.parse(network);
  }

  /** The pacer for sends to `peer`; undefined when that link runs at loopback speed. */
  pacerFor(peer: number): Pacer | undefined {
    const tier = this.topo.sameNode(this.rank, peer) ? 'intra' : 'inter';
    const spec = resolveTier(this.net[tier]);
    if (!spec) return undefined;
    if (this.net.sharedNic) {
      const nic = this.shared.get(tier);
      if (nic) return nic;
    }
    const pacer = new Pacer(spec);
    if (this.net.sharedNic) this.shared.set(tier, pacer);
    this.all.push(pacer);
    return pacer;
  }

  /** Drops everything still queued on every NIC (the mesh is closing). */
  cancel(): void {
    for (const p of this.all) p.cancel();
  }
}

type Clock = () => number;

/** Timer granularity: writes due within one tick go out together. */
const TICK_MS = 1;

/**
 * Schedules writes on one emulated directed link. `enqueue` records when each fragment's last bit
 * leaves the emulated wire and calls `write` once that time plus the latency has passed.
 */
export class Pacer {
  private freeAtMs = 0;
  private queue: { dueMs: number; write: () => void }[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly bytesPerMs: number;
  private readonly latencyMs: number;

  constructor(
    spec: LinkSpec,
    private readonly now: Clock = () => performance.now(),
  ) {
    this.bytesPerMs = (spec.gbps * 1e9) / 8 / 1000;
    this.latencyMs = spec.latencyUs / 1000;
  }

  enqueue(bytes: number, write: () => void): void {
    const start = Math.max(this.now(), this.freeAtMs);
    this.freeAtMs = start + bytes / this.bytesPerMs;
    this.queue.push({ dueMs: this.freeAtMs + this.latencyMs, write });
    if (this.queue.length - this.head === 1) this.pump();
  }

  private pump = (): void => {
    this.timer = undefined;
    const now = this.now();
    // Release everything due within the next timer tick: waiting for a sub-millisecond deadline
    // would need a busy loop (setTimeout cannot sleep less than ~1 ms), and several ranks
    // spinning on two cores would steal the CPU the run is measuring. Early release is bounded
    // by one tick, so a paced message still takes bytes / rate overall.
    while (this.head < this.queue.length && this.queue[this.head].dueMs <= now + TICK_MS) {
      this.queue[this.head++].write();
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    const wait = this.queue[this.head].dueMs - now;
    this.timer = setTimeout(this.pump, Math.max(1, Math.floor(wait - TICK_MS)));
  };

  /** Drops everything still queued (the link is closing). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue = [];
    this.head = 0;
  }
}
