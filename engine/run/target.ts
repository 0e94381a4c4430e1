/**
 * `network.target` of a profile: the cluster (preset name or description) an emulated run stands
 * for. Validated with the cluster schema so a profile names the bad field.
 */
import { z } from 'zod';
import { CLUSTER_PRESET_NAMES, ClusterSchema } from './cluster.js';

export const TargetSchema = z
  .object({
    cluster: z.union([z.enum(CLUSTER_PRESET_NAMES as [string, ...string[]]), ClusterSchema], {
      error: `use a cluster preset (${CLUSTER_PRESET_NAMES.join(', ')}) or a cluster description`,
    }),
  })
  .strict();
export type Target = z.output<typeof TargetSchema>;

const Tier = z.object({ gbps: z.number(), latencyUs: z.number() });

/** What config.json records about a ratio-preserving emulated run. */
export const EmulationRecordSchema = z.object({
  /** The cluster the run stands for, resolved. */
  cluster: z.looseObject({ name: z.string() }),
  /** Compute per step measured on this box before the run, and the cluster's for the same model. */
  boxComputeMs: z.number(),
  targetComputeMs: z.number(),
  /** boxComputeMs / targetComputeMs: link bandwidths divided by it, latencies multiplied. */
  scale: z.number(),
  /** The cluster's tiers, and what was emulated instead. */
  targetIntra: Tier,
  targetInter: Tier,
  intra: Tier,
  inter: Tier,
  /** How the box's compute was measured. */
  probe: z.string(),
});
export type EmulationRecord = z.output<typeof EmulationRecordSchema>;
