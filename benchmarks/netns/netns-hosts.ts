/**
 * Simulated hosts on real kernel links: one Linux network namespace per node, each with an `eth0`
 * veth whose other end sits on a bridge inside a switch namespace (so the machine's own network
 * is never touched). Every host's egress is shaped with `tc`: tbf for the rate, netem for the
 * one-way delay where the kernel has it. Ranks of one node share its namespace and talk over its
 * own address (the kernel routes that locally, unshaped, like the emulation's intra tier 'off').
 *
 * Shaping is per host egress, while the transport's emulation shapes every directed link: the two
 * agree exactly for 2 nodes; with more nodes a host's flows to different peers share its rate.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { RankPlacement } from '../../engine/launch/local-ranks.js';

export interface KernelLink {
  gbps: number;
  latencyUs: number;
}

export interface NetnsHosts {
  /** Namespace of each node. */
  namespaces: string[];
  /** IPv4 address of each node's eth0. */
  addresses: string[];
  /** The qdiscs on each host's egress, as `tc qdisc show` prints them. */
  qdiscs: string;
  /** False where the kernel has no netem: the rate is shaped, the delay is not. */
  delayApplied: boolean;
  /** Why the delay could not be applied (e.g. netem missing from this kernel). */
  delayNote?: string;
  /** For the launcher: rank -> its node's namespace and address. */
  placement(ranksPerNode: number): (rank: number) => RankPlacement;
  /** Deletes every namespace (and with them the veths and the bridge). Safe to call twice. */
  teardown(): void;
}

const sh = (cmd: string, args: string[]): string =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();

const ip = (...args: string[]): string => sh('ip', args);

const inNs = (ns: string, cmd: string, ...args: string[]): string =>
  sh('ip', ['netns', 'exec', ns, cmd, ...args]);

const stderrOf = (e: unknown): string =>
  ((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim().split('\n')[0];

/** Why namespaces cannot be used here, or undefined when they can (probed by creating one). */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux')
    return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0)
    return 'network namespaces need root (run as root, or in a container with CAP_NET_ADMIN)';
  const probe = `gbprobe-${randomBytes(3).toString('hex')}`;
  try {
    ip('netns', 'add', probe);
  } catch (e) {
    return `\`ip netns add\` failed: ${stderrOf(e)}`;
  }
  try {
    ip('netns', 'del', probe);
  } catch {
    /* nothing left to clean if the delete itself fails */
  }
  return undefined;
}

/** tbf needs a bucket of at least one MTU-sized packet and about a timer tick of traffic. */
function tbfArgs(gbps: number): string[] {
  const bytesPerMs = (gbps * 1e9) / 8 / 1000;
  const burst = Math.max(32 * 1024, Math.round(bytesPerMs));
  return [
    'tbf',
    'rate',
    `${Math.round(gbps * 1000)}mbit`,
    'burst',
    String(burst),
    'latency',
    '400ms',
  ];
}

/** Shapes `dev` in `ns`: netem delay as root with tbf below it, or tbf alone without netem. */
function shape(
  ns: string,
  dev: string,
  link: KernelLink,
): { delayApplied: boolean; note?: string } {
  if (link.latencyUs > 0) {
    try {
      inNs(
        ns,
        'tc',
        'qdisc',
        'add',
        'dev',
        dev,
        'root',
        'handle',
        '1:',
        'netem',
        'delay',
        `${link.latencyUs}us`,
      );
      inNs(
        ns,
        'tc',
        'qdisc',
        'add',
        'dev',
        dev,
        'parent',
        '1:1',
        'handle',
        '10:',
        ...tbfArgs(link.gbps),
      );
      return { delayApplied: true };
    } catch (e) {
      const why = stderrOf(e);
      try {
        inNs(ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root');
      } catch {
        /* no root qdisc was added */
      }
      inNs(ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', ...tbfArgs(link.gbps));
      return { delayApplied: false, note: `netem unavailable (${why}): rate shaped, delay not` };
    }
  }
  inNs(ns, 'tc', 'qdisc', 'add', 'dev', dev, 'root', ...tbfArgs(link.gbps));
  return { delayApplied: true };
}

/** Creates `nodes` host namespaces on one bridge, egress shaped to `link`. */
export function createHosts(nodes: number, link: KernelLink): NetnsHosts {
  const tag = randomBytes(3).toString('hex');
  const sw = `gb${tag}-sw`;
  const namespaces = Array.from({ length: nodes }, (_, n) => `gb${tag}-h${n}`);
  const addresses = namespaces.map((_, n) => `10.231.0.${n + 1}`);
  const created: string[] = [];
  const teardown = (): void => {
    while (created.length) {
      const ns = created.pop()!;
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  };
  try {
    for (const ns of [sw, ...namespaces]) {
      ip('netns', 'add', ns);
      created.push(ns);
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
    }
    inNs(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(sw, 'ip', 'link', 'set', 'br0', 'up');
    let delay: { delayApplied: boolean; note?: string } = { delayApplied: true };
    namespaces.forEach((ns, n) => {
      const port = `p${n}`;
      inNs(sw, 'ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      inNs(sw, 'ip', 'link', 'set', port, 'master', 'br0');
      inNs(sw, 'ip', 'link', 'set', port, 'up');
      inNs(ns, 'ip', 'addr', 'add', `${addresses[n]}/24`, 'dev', 'eth0');
      inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
      const r = shape(ns, 'eth0', link);
      if (!r.delayApplied) delay = r;
    });
    const qdiscs = namespaces
      .map(
        (ns) =>
          `${ns}: ${inNs(ns, 'tc', 'qdisc', 'show', 'dev', 'eth0').trim().replace(/\n/g, '; ')}`,
      )
      .join('\n');
    return {
      namespaces,
      addresses,
      qdiscs,
      delayApplied: delay.delayApplied,
      ...(delay.note ? { delayNote: delay.note } : {}),
      placement: (ranksPerNode) => (rank) => {
        const node = Math.floor(rank / ranksPerNode);
        return { prefix: ['ip', 'netns', 'exec', namespaces[node]], address: addresses[node] };
      },
      teardown,
    };
  } catch (e) {
    teardown();
    throw new Error(`could not set up the network namespaces: ${stderrOf(e)}`);
  }
}

/** Runs `body` with hosts set up, and always deletes them afterwards (also on Ctrl-C). */
export async function withHosts<T>(
  nodes: number,
  link: KernelLink,
  body: (hosts: NetnsHosts) => Promise<T>,
): Promise<T> {
  const hosts = createHosts(nodes, link);
  const onSignal = (sig: NodeJS.Signals): void => {
    hosts.teardown();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await body(hosts);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    hosts.teardown();
  }
}
