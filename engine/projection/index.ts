/**
 * "What if": project a measured run onto another cluster (or its own links, to check the model).
 *
 * The stable interface:
 *   readRunProfiles(runDir)             -> MeasuredRun   (config.json + metrics.jsonl + summary.json)
 *   projectMethod(profile, cluster)     -> ProjectedStep (step ms, exposed comm ms, comm ms)
 *   projectRun(measured, cluster?)      -> RunProjection (every method, speedup vs fp32 and bf16 FSDP)
 *   resolveCluster(preset | object)     -> ClusterSpec   (zod-validated; CLUSTER_PRESETS)
 */
import { resolveCluster } from '../run/cluster.js';
import type { MeasuredRun } from './extract.js';
import { unitShapes } from './fsdp-plan.js';
import { projectMethods, projectStep, targetLayout } from './project.js';
import type { ClusterSpec, RunProjection } from '../run/projection-types.js';

export * from '../run/projection-types.js';
export {
  CLUSTER_PRESETS,
  CLUSTER_PRESET_NAMES,
  ClusterError,
  ClusterSchema,
  resolveCluster,
  type ClusterInput,
} from '../run/cluster.js';
export { profilesFromRun, readRunProfiles, measuredCluster, type MeasuredRun } from './extract.js';
export { projectMethods } from './project.js';
export { readPrediction } from './predict.js';

/** Predicted step of one measured method on `cluster`. */
export const projectMethod = projectStep;

/**
 * Every method of a measured run on `cluster` (a preset name, a description, or nothing: the
 * run's own links, where the error against the measured step time is reported too).
 */
export function projectRun(measured: MeasuredRun, cluster?: ClusterSpec | string): RunProjection {
  const own = cluster === undefined;
  const c = own
    ? measured.cluster
    : typeof cluster === 'string'
      ? resolveCluster(cluster)
      : cluster;
  const first = measured.profiles[0];
  if (!first) throw new Error(`run ${measured.run} has no method with timed steps to project from`);
  const inputs = [...measured.inputs];
  if (c.gpu)
    inputs.push(
      `target compute: FLOPs per unit / (${c.gpu.tflops} TFLOP/s x ${c.gpu.efficiency} efficiency); coding and optimizer scaled by the same throughput ratio`,
    );
  else
    inputs.push(
      own
        ? "target compute: each method's own measured compute (the run's own links: checking the model)"
        : "target compute: this box's measured rate, the median over the run's methods (no GPU figure given)",
    );
  if (!measured.profiles.some((p) => p.id === 'bf16'))
    inputs.push(
      'bf16 baseline: derived from the fp32 one (half the reduce-scatter bytes, coding assumed free)',
    );
  inputs.push(
    c.sharedNic
      ? "all-to-all: a GPU's inter-node parts share its NIC"
      : 'all-to-all: every rank pair has its own link (as emulated)',
  );
  const model = c.model ?? first.model;
  return {
    run: measured.run,
    cluster: c,
    world: c.nodes * c.gpusPerNode,
    nodes: c.nodes,
    sharding: targetLayout(first, c).sharding,
    model,
    params: unitShapes(model).reduce((a, u) => a + u.numel, 0),
    inputs,
    methods: projectMethods(measured.profiles, c, own),
  };
}
