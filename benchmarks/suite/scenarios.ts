/**
 * The benchmark suite's scenarios, as data: each is a list of runs, and each run is a profile
 * (validated by the profile schema when the suite loads) plus where it sits on the scenario's
 * axis. Default scenarios use the nano model and few steps so `npm run bench` fits about 15
 * minutes on a 2-core machine; opt-in ones (`default: false`) run only when named.
 */
import { METHODS } from '../../engine/compress/registry.js';
import { parseProfile, type Profile, type ProfileInput } from '../../engine/run/profile.js';

export type ScenarioAxis = 'bandwidth' | 'method' | 'sharding' | 'world' | 'links' | 'engine';

export interface SuiteRunSpec {
  /** Unique within the scenario; names the run directory's profile. */
  key: string;
  label: string;
  /** Position on the scenario's axis: Gb/s for 'bandwidth', world size for 'world'. */
  x?: number;
  /** 'kernel': ranks in network namespaces on tc-shaped links; default: the transport's emulation. */
  links?: 'kernel' | 'emulated';
  profile: ProfileInput;
}

export interface SuiteScenario {
  name: string;
  title: string;
  /** What the scenario answers, for `--list` and the report. */
  question: string;
  axis: ScenarioAxis;
  /** Part of `npm run bench` without arguments. */
  default: boolean;
  runs: SuiteRunSpec[];
}

/** Shared by every default scenario: nano GPT, 10 steps (2 warm-up steps are left out of timings). */
const NANO_TRAIN = { steps: 10, batchPerRank: 4, lr: 3e-3, warmupSteps: 2, seed: 1 };
const LINK_100M = { gbps: 0.1, latencyUs: 100 };

const nano = (name: string, over: Partial<ProfileInput>): ProfileInput => ({
  name,
  model: { preset: 'nano' },
  data: { corpus: 'shakespeare', seed: 1 },
  train: NANO_TRAIN,
  parallel: { worldSize: 4, nodes: 2, sharding: 'FULL_SHARD' },
  network: { intra: 'off', inter: LINK_100M },
  ...over,
});

/** Methods whose crossover against FSDP is charted: one per family (cast, quantise, low-rank, sketch). */
const CROSSOVER_METHODS = [{ id: 'fp16' }, { id: 'int8' }, { id: 'powersgd' }, { id: 'tagc' }];
export const CROSSOVER_GBPS = [0.01, 0.03, 0.1, 0.3, 1, 10];

/** Every gradient method of the registry but qgZ, at its defaults; int8 also with agreed scales. */
const ALL_METHODS = METHODS.filter((m) => m.id !== 'qgz').flatMap((m) =>
  m.id === 'int8'
    ? [{ id: m.id }, { id: m.id, label: 'int8 (agreed scales)', params: { scale: 'agreed' } }]
    : [{ id: m.id }],
);

/**
 * The same data-parallel profile on both engines: baseline only (fp32 all-reduce, NO_SHARD: the
 * built-in engine's DDP and PyTorch DDP over gloo), no link emulation. Runs alternate engines at
 * each size so load from other processes falls on both alike.
 */
function engineRuns(
  presets: ('nano' | 'micro')[],
  worlds: number[],
  steps: number,
  tag = '',
): SuiteRunSpec[] {
  return presets.flatMap((preset) =>
    worlds.flatMap((world) =>
      (['builtin', 'pytorch'] as const).map((engine) => ({
        key: `${preset}-w${world}${tag}-${engine}`,
        label: `${preset}, world ${world}, ${engine}`,
        x: world,
        profile: {
          name: `suite-engines-${preset}-w${world}${tag}-${engine}`,
          engine,
          model: { preset },
          data: { corpus: 'shakespeare', seed: 1 },
          train: { ...NANO_TRAIN, steps, batchPerRank: 8 },
          parallel: { worldSize: world, nodes: 1, sharding: 'NO_SHARD' },
          network: { intra: 'off', inter: 'off' },
        },
      })),
    ),
  );
}

export const SCENARIOS: SuiteScenario[] = [
  {
    name: 'crossover',
    title: 'Speedup against FSDP across inter-node bandwidth (nano, 2 nodes x 2 ranks)',
    question: 'At which inter-node bandwidth does each method stop beating uncompressed FSDP?',
    axis: 'bandwidth',
    default: true,
    runs: CROSSOVER_GBPS.map((gbps) => ({
      key: `${gbps}gbps`,
      label: `${gbps} Gb/s`,
      x: gbps,
      profile: nano(`suite-crossover-${gbps}gbps`, {
        network: { intra: 'off', inter: { gbps, latencyUs: 100 } },
        methods: CROSSOVER_METHODS,
      }),
    })),
  },
  {
    name: 'methods',
    title: 'Every method at 100 Mb/s between nodes (nano, 2 nodes x 2 ranks)',
    question: 'What does each method cost and save at one slow link: time breakdown, bytes, loss?',
    axis: 'method',
    default: true,
    runs: [
      {
        key: 'all',
        label: 'all methods',
        profile: nano('suite-methods-100mbps', { methods: ALL_METHODS }),
      },
    ],
  },
  {
    name: 'sharding',
    title: 'Sharding strategies with and without TAGC at 100 Mb/s (nano, 2 nodes x 2 ranks)',
    question:
      'How do FULL_SHARD, SHARD_GRAD_OP, NO_SHARD and HYBRID_SHARD compare, and does TAGC help each?',
    axis: 'sharding',
    default: true,
    runs: (['FULL_SHARD', 'SHARD_GRAD_OP', 'NO_SHARD', 'HYBRID_SHARD'] as const).map((s) => ({
      key: s,
      label: s,
      profile: nano(`suite-sharding-${s.toLowerCase()}`, {
        parallel: { worldSize: 4, nodes: 2, sharding: s },
        methods: [{ id: 'tagc' }],
      }),
    })),
  },
  {
    name: 'world',
    title: 'World size 2, 4 and 8 on 2 nodes at 100 Mb/s (nano, FSDP and TAGC)',
    question: 'How do step time and the speedup of compression change with the number of ranks?',
    axis: 'world',
    default: true,
    runs: [2, 4, 8].map((world) => ({
      key: `world${world}`,
      label: `world ${world}`,
      x: world,
      profile: nano(`suite-world-${world}`, {
        parallel: { worldSize: world, nodes: 2, sharding: 'FULL_SHARD' },
        methods: [{ id: 'tagc' }],
      }),
    })),
  },
  {
    name: 'netns',
    title:
      'Kernel-shaped links (network namespaces + tc) against the transport emulation (nano, 2 hosts)',
    question: 'Does the emulated link time steps like a real kernel link at the same bandwidth?',
    axis: 'links',
    default: true,
    runs: (['emulated', 'kernel'] as const).map((links) => ({
      key: links,
      label: links === 'kernel' ? 'kernel links (netns + tc)' : 'transport emulation',
      links,
      // 20 Mb/s and 20 steps: communication dominates the step, so the comparison is about the
      // links rather than about compute noise on shared cores.
      profile: nano(`suite-netns-${links}`, {
        train: { ...NANO_TRAIN, steps: 20 },
        parallel: { worldSize: 2, nodes: 2, sharding: 'FULL_SHARD' },
        network: {
          intra: 'off',
          inter: { gbps: 0.02, latencyUs: 100 },
          emulate: links === 'emulated',
        },
        methods: [{ id: 'fp16' }, { id: 'tagc' }],
      }),
    })),
  },
  {
    name: 'crossover-micro',
    title: 'Speedup against FSDP across inter-node bandwidth (micro, 2 nodes x 2 ranks, 40 steps)',
    question:
      'The crossover on an 8x larger model, where compute per byte differs (about 40 min here).',
    axis: 'bandwidth',
    default: false,
    runs: CROSSOVER_GBPS.map((gbps) => ({
      key: `${gbps}gbps`,
      label: `${gbps} Gb/s`,
      x: gbps,
      profile: nano(`suite-crossover-micro-${gbps}gbps`, {
        model: { preset: 'micro' },
        train: { ...NANO_TRAIN, steps: 40, batchPerRank: 8, warmupSteps: 5 },
        network: { intra: 'off', inter: { gbps, latencyUs: 100 } },
        methods: CROSSOVER_METHODS,
      }),
    })),
  },
  {
    name: 'engines',
    title:
      'Built-in engine against PyTorch DDP (gloo), same profile (fp32 all-reduce, no emulation)',
    question:
      'How do step time, tokens/s, final loss and bytes per step compare between the two engines?',
    axis: 'engine',
    default: false,
    runs: engineRuns(['nano', 'micro'], [1, 2, 4], 12),
  },
  {
    name: 'engines-200',
    title: 'Built-in engine against PyTorch DDP over 200 steps (nano, world 2)',
    question: 'Do both engines reach the same loss after 200 steps from the same seed?',
    axis: 'engine',
    default: false,
    runs: engineRuns(['nano'], [2], 200, '-200'),
  },
];

/** A scenario by name, with every profile validated; the error lists the known names. */
export function scenarioByName(name: string): SuiteScenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s)
    throw new Error(
      `unknown scenario "${name}"; use one of ${SCENARIOS.map((x) => x.name).join(', ')} (npm run bench -- --list)`,
    );
  return s;
}

/** The profile of one run, validated; a bad one names the scenario and run. */
export function runProfile(scenario: SuiteScenario, run: SuiteRunSpec): Profile {
  try {
    return parseProfile(run.profile, `profile of ${scenario.name}/${run.key}`);
  } catch (e) {
    throw new Error(`scenario ${scenario.name}: ${(e as Error).message}`);
  }
}
