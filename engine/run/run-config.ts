/** What a run directory's config.json holds, and how a rank turns it into a model. */
import { z } from 'zod';
import { MODEL_PRESETS, type GptConfig } from '../model/gpt.js';
import { EmulationRecordSchema } from './target.js';
import { PARAM_COMMS, type ParamComm } from '../compress/param-codec.js';
import { parseProfile, ProfileSchema, type Profile } from './profile.js';
import { repeatKey } from './repeats.js';

export const RunMethodSchema = z.object({
  id: z.string(),
  /** Unique within the run (the id, or id-2, id-3 for repeats): what metrics lines carry. */
  key: z.string().optional(),
  label: z.string(),
  params: z.record(z.string(), z.unknown()).default({}),
  errorFeedback: z.unknown().optional(),
  /** Parameter all-gather format (the profile's parallel.paramComm when absent). */
  paramComm: z.enum(PARAM_COMMS).optional(),
  /** hpZ (the profile's parallel.hpz when absent). */
  hpz: z.boolean().optional(),
});
export type RunMethod = z.infer<typeof RunMethodSchema>;

export const RunConfigSchema = z.object({
  run: z.string(),
  createdAt: z.string(),
  profile: ProfileSchema,
  methods: z.array(RunMethodSchema),
  versions: z.record(z.string(), z.string()),
  gitSha: z.string().optional(),
  /** The launching process, so a store reader can tell a live run from an abandoned one. */
  pid: z.number().int().optional(),
  host: z.record(z.string(), z.unknown()),
  /** The real cluster an emulated run stands for (profile network.target), as resolved at launch. */
  emulation: EmulationRecordSchema.optional(),
  /** The GPT's resolved dimensions (PyTorch runs: the Python ranks read them from here). */
  model: z
    .object({
      vocab: z.number().int(),
      seqLen: z.number().int(),
      layers: z.number().int(),
      dModel: z.number().int(),
      heads: z.number().int(),
      tied: z.boolean(),
    })
    .optional(),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;

/** Methods a run executes, in order: the baselines first (fp32 FSDP unless turned off, then bf16 if asked). */
function methodList(profile: Profile): RunMethod[] {
  const list: RunMethod[] = [];
  const seen = new Map<string, number>();
  const key = (id: string): string => {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n === 1 ? id : `${id}-${n}`;
  };
  const baselines = profile.baselines ?? (profile.baseline ? ['fsdp'] : []);
  // The PyTorch engine's baseline is DDP (its FSDP is refused before start where it cannot run).
  const base = profile.engine === 'pytorch' ? 'DDP' : 'FSDP';
  if (baselines.includes('fsdp'))
    list.push({
      id: 'fsdp',
      key: key('fsdp'),
      label: `${base} (fp32)`,
      params: {},
      paramComm: 'fp32',
      hpz: false,
    });
  // The bf16-reduce baseline is the bf16 method under a baseline's name (its key stays "bf16").
  if (baselines.includes('bf16'))
    list.push({
      id: 'bf16',
      key: key('bf16'),
      label: `${base} (bf16 reduce)`,
      params: {},
      paramComm: 'fp32',
      hpz: false,
    });
  // Mixed-precision FSDP: bf16 gathers and bf16 reduce-scatter, under its own key.
  if (baselines.includes('bf16-mp'))
    list.push({
      id: 'bf16',
      key: BF16_MP_KEY,
      label: `${base} (bf16 params + reduce)`,
      params: {},
      paramComm: 'bf16',
      hpz: false,
    });
  for (const m of profile.methods) {
    // A method with its own parameter options is keyed by them too ("tagc+int8+hpz").
    const own = [m.paramComm, m.hpz ? 'hpz' : undefined].filter((x) => x !== undefined);
    list.push({
      id: m.id,
      key: key([m.id, ...own].join('+')),
      label:
        m.label ??
        [m.id, ...(m.paramComm ? [`${m.paramComm} params`] : []), ...(m.hpz ? ['hpZ'] : [])].join(
          ' + ',
        ),
      params: m.params,
      errorFeedback: m.errorFeedback,
      ...(m.paramComm ? { paramComm: m.paramComm } : {}),
      ...(m.hpz !== undefined ? { hpz: m.hpz } : {}),
    });
  }
  return withDistinctLabels(list);
}

/** Repeated labels (a method listed twice without labels) get ` #2`, ` #3`: tables and charts tell them apart. */
function withDistinctLabels(list: RunMethod[]): RunMethod[] {
  const taken = new Set<string>();
  return list.map((m) => {
    let label = m.label;
    for (let n = 2; taken.has(label); n++) label = `${m.label} #${n}`;
    taken.add(label);
    return label === m.label ? m : { ...m, label };
  });
}

/**
 * Methods a run executes, in order: the method list once, or with `repeat` N that list N times in
 * turn, repetition r > 1 under keys `<key>@<r>` (repeats.ts).
 */
export function resolveMethods(profile: Profile): RunMethod[] {
  const once = methodList(profile);
  return Array.from({ length: profile.repeat }, (_, i) =>
    once.map((m) => (i === 0 ? m : { ...m, key: repeatKey(methodKey(m), i + 1) })),
  ).flat();
}

/** The key of the mixed-precision (bf16 params and reduce) FSDP baseline. */
export const BF16_MP_KEY = 'bf16-mp';

/** The parameter all-gather format a method runs with. */
export const paramCommOf = (profile: Profile, m: RunMethod): ParamComm =>
  m.paramComm ?? profile.parallel.paramComm;

/** Whether a method runs with hpZ. */
export const hpzOf = (profile: Profile, m: RunMethod): boolean => m.hpz ?? profile.parallel.hpz;

/** The GPT dimensions a profile asks for; the vocabulary comes from the corpus unless set. */
export function modelConfig(profile: Profile, corpusVocab: number): GptConfig {
  const m = profile.model;
  if ('preset' in m) {
    const p = MODEL_PRESETS[m.preset];
    return {
      layers: p.layers,
      dModel: p.dModel,
      heads: p.heads,
      seqLen: p.seqLen,
      vocab: 'vocab' in p ? Math.max(p.vocab, corpusVocab) : corpusVocab,
      tied: m.tied,
    };
  }
  return {
    layers: m.layers,
    dModel: m.dModel,
    heads: m.heads,
    seqLen: m.seqLen,
    vocab: Math.max(m.vocab ?? corpusVocab, corpusVocab),
    tied: m.tied,
  };
}

export { parseProfile };

/** The name a method's metrics lines carry (its id unless the run repeats that id). */
export const methodKey = (m: RunMethod): string => m.key ?? m.id;
