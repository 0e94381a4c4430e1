/**
 * Before a PyTorch run starts: can this machine's torch run what the profile asks? Refuses with
 * the reason (no torch, no FSDP here, no ZeroRedundancyOptimizer) instead of failing mid-run.
 */
import type { TorchProbe } from './torch-probe.js';
import type { Profile } from '../run/profile.js';
import { modelConfig } from '../run/run-config.js';
import { buildCorpus } from '../model/data.js';
import type { GptConfig } from '../model/gpt.js';
import { torchProbe } from './probe.js';

interface Asks {
  parallel: { sharding: string };
  pytorch?: { zero: boolean };
}

/** Why the profile cannot run on the PyTorch engine here, or undefined when it can. */
export function torchRefusal(p: Asks, probe: TorchProbe): string | undefined {
  if (!probe.available) return `the PyTorch engine is unavailable: ${probe.reason}`;
  const option = (id: string) => probe.options.find((o) => o.id === id);
  if (p.parallel.sharding !== 'NO_SHARD') {
    const fsdp = option('fsdp');
    const why = fsdp?.available
      ? 'the PyTorch engine trains with DDP; its FSDP path is not written yet'
      : (fsdp?.reason ?? 'this torch has no FSDP');
    return `parallel.sharding ${p.parallel.sharding} needs PyTorch FSDP, which cannot run here: ${why}. Set parallel.sharding to NO_SHARD (DDP).`;
  }
  const zero = option('zero');
  if (p.pytorch?.zero && !zero?.available)
    return `pytorch.zero: ZeroRedundancyOptimizer cannot run here: ${zero?.reason ?? 'not in this torch'}`;
  return undefined;
}

/**
 * Checks a PyTorch profile against this machine (throws the refusal) and returns what its
 * config.json adds for the Python ranks: the model's resolved dimensions.
 */
export async function prepareTorchRun(profile: Profile): Promise<{ model: GptConfig }> {
  const refusal = torchRefusal(profile, await torchProbe());
  if (refusal) throw new Error(refusal);
  return torchRunFields(profile);
}

/** What config.json adds for the Python ranks: the model's dimensions (vocabulary from the corpus). */
export function torchRunFields(profile: Profile): { model: GptConfig } {
  const corpus = buildCorpus(profile.data.corpus, profile.data.seed);
  return { model: modelConfig(profile, corpus.vocab.length) };
}
