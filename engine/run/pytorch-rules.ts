/**
 * What a profile may ask of the PyTorch engine, checked with the profile (no Python needed):
 * data parallelism over one launch, with the methods it has hooks for. What depends on the
 * installed torch (FSDP, CUDA) is checked before start against the probe (readiness.ts).
 */

/** Method ids the PyTorch engine has DDP comm hooks for (engine/torch/gradbench_torch/hooks.py). */
export const PYTORCH_METHODS = ['fp16', 'bf16', 'powersgd', 'int8', 'topk'] as const;

interface RuleInput {
  parallel: { nodes: number; pipelineStages: number; sharding: string };
  methods: { id: string; params: Record<string, unknown> }[];
  network?: { intra: unknown; inter: unknown; emulate: boolean };
}

export interface RuleIssue {
  path: (string | number)[];
  message: string;
}

const linkOff = (tier: unknown): boolean => tier === 'off';

export function pytorchEngineIssues(p: RuleInput): RuleIssue[] {
  const issues: RuleIssue[] = [];
  if (p.parallel.pipelineStages > 1)
    issues.push({
      path: ['parallel', 'pipelineStages'],
      message: 'the PyTorch engine trains data-parallel only: set pipeline stages to 1',
    });
  // Its ranks train with DDP: FSDP's sharding strategies have no path there yet.
  if (p.parallel.sharding !== 'NO_SHARD')
    issues.push({
      path: ['parallel', 'sharding'],
      message: 'the PyTorch engine trains with DDP (no FSDP sharding): choose NO_SHARD',
    });
  if (p.parallel.nodes > 1)
    issues.push({
      path: ['parallel', 'nodes'],
      message:
        'the PyTorch engine starts one local torchrun: set 1 node (several hosts: torchrun --nnodes, see README)',
    });
  const net = p.network;
  if (net && net.emulate && !(linkOff(net.intra) && linkOff(net.inter)))
    issues.push({
      path: ['network', 'emulate'],
      message:
        'the PyTorch engine cannot emulate links (gloo and NCCL use the real network): untick Emulate links',
    });
  p.methods.forEach((m, i) => {
    if (!(PYTORCH_METHODS as readonly string[]).includes(m.id))
      issues.push({
        path: ['methods', i, 'id'],
        message: `the PyTorch engine has hooks for ${PYTORCH_METHODS.join(', ')}; "${m.id}" runs on the built-in engine`,
      });
    else if (m.id === 'int8' && m.params.scale === 'agreed')
      issues.push({
        path: ['methods', i, 'params', 'scale'],
        message: 'the PyTorch int8 hook uses per-rank scales: remove scale or set it to "per-rank"',
      });
  });
  return issues;
}
