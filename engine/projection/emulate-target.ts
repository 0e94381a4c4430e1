/**
 * Ratio-preserving emulation: a profile whose network names a target cluster is emulated with
 * that cluster's links slowed by as much as this box's compute is slower than the cluster's, so
 * compute : communication in the run equals the target's. Bandwidth is divided by
 * scale = (this box's compute per step) / (the target's compute per step) and latency multiplied.
 */
import type { Profile } from '../run/profile.js';
import { modelConfig } from '../run/run-config.js';
import { buildCorpus } from '../model/data.js';
import { resolveCluster } from '../run/cluster.js';
import { BACKWARD_FLOPS_FACTOR, forwardFlops, unitShapes } from './fsdp-plan.js';
import { probeProfile, type ProbeResult } from './probe.js';
import type { EmulationRecord } from '../run/target.js';
import type { ClusterSpec, LinkTier } from '../run/projection-types.js';

/** Compute per step of the profile's model and batch on one GPU of `c`, ms. */
export function targetComputeMs(profile: Profile, c: ClusterSpec): number {
  if (!c.gpu)
    throw new Error(
      `network.target.cluster: "${c.name}" has no gpu figure; add gpu: { tflops, efficiency } so its compute time is known`,
    );
  const model = modelConfig(
    profile,
    buildCorpus(profile.data.corpus, profile.data.seed).vocab.length,
  );
  const tokens = profile.train.batchPerRank * model.seqLen;
  const flops = unitShapes(model).reduce(
    (a, u) => a + (1 + BACKWARD_FLOPS_FACTOR) * forwardFlops(u.kind, model, tokens, false),
    0,
  );
  return flops / (c.gpu.tflops * c.gpu.efficiency * 1e9);
}

const scaled = (t: LinkTier, scale: number): LinkTier => ({
  gbps: t.gbps / scale,
  latencyUs: t.latencyUs * scale,
});

/** The emulated links for a target, given this box's measured compute per step. */
export function ratioPreservingLinks(
  profile: Profile,
  c: ClusterSpec,
  boxComputeMs: number,
  probe: string,
): EmulationRecord {
  const target = targetComputeMs(profile, c);
  const scale = boxComputeMs / target;
  const intra = scaled(c.intra, scale);
  const inter = scaled(c.inter, scale);
  for (const [name, t] of [
    ['intra', intra],
    ['inter', inter],
  ] as const) {
    if (t.gbps > 100_000 || t.latencyUs > 10_000_000)
      throw new Error(
        `network.target: the ${name}-node link would be emulated at ${t.gbps.toPrecision(3)} Gb/s, ${t.latencyUs.toPrecision(3)} us (scale ${scale.toPrecision(3)}), outside what the emulator paces; pick a closer target or a larger batch`,
      );
  }
  return {
    cluster: { ...c },
    boxComputeMs,
    targetComputeMs: target,
    scale,
    targetIntra: c.intra,
    targetInter: c.inter,
    intra,
    inter,
    probe,
  };
}

/**
 * Resolves `network.target` before ranks start: probes this box's compute, returns the profile
 * with concrete emulated tiers and the record config.json keeps. Profiles without a target pass.
 */
export async function resolveTargetNetwork(
  profile: Profile,
  probe: (p: Profile) => Promise<ProbeResult> = (p) => probeProfile(p, { emulateLink: false }),
): Promise<{ profile: Profile; emulation?: EmulationRecord }> {
  const target = profile.network.target;
  if (!target) return { profile };
  const c = resolveCluster(target.cluster, 'network.target.cluster');
  const measured = await probe(profile);
  const record = ratioPreservingLinks(
    profile,
    c,
    measured.computeMs,
    `${measured.ranks} ranks computing at once, mean of 3 steps after a warm-up, slowest rank`,
  );
  return {
    profile: {
      ...profile,
      network: {
        ...profile.network,
        intra: record.intra,
        inter: record.inter,
        emulate: true,
        // The emulated links stand for the cluster's, NICs included.
        sharedNic: c.sharedNic,
      },
    },
    emulation: record,
  };
}
