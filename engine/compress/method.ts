/**
 * What a compression method is: an id, a label, a parameter schema (zod, with defaults), the
 * collective pattern its parameters lead to, and how to build it from its parsed parameters, all
 * declared in one file under methods/. `defineMethod` checks each declaration against its own
 * schema at compile time and gives the registry one uniform shape: every entry takes raw
 * parameters, parses them once (naming the method and field on error) and hands the typed result
 * to the method's own functions.
 */
import type { z } from 'zod';
import type { CollectivePattern, Compressor, RoundsShape } from './compressor.js';
import type { OptimusCcOptions } from './pipeline-options.js';

export type EfModeName = 'none' | 'ef' | 'econtrol';

/** What a rank knows when it builds a gradient compressor. */
export interface MethodEnv {
  world: number;
  warmupSteps: number;
  gradClip: number;
  /** Ranks per node (hierarchical methods); the world when absent. */
  ranksPerNode?: number;
}

interface Declared<S extends z.ZodObject> {
  id: string;
  /** Where the app lists the method: ascending, unique across methods (steps of 10 leave room). */
  order: number;
  label: string;
  description: string;
  params: S;
  /** Error feedback used unless the profile says otherwise. */
  defaultErrorFeedback: EfModeName;
}

/** A method that compresses FSDP's gradient reduction. */
export interface GradientMethodDeclaration<S extends z.ZodObject> extends Declared<S> {
  kind: 'gradient';
  pattern(params: z.output<S>): CollectivePattern;
  /** 'rounds' methods whose rounds have a standard shape: how the projection lays them out. */
  travelsAs?: (params: z.output<S>) => RoundsShape;
  create(params: z.output<S>, env: MethodEnv): Compressor;
}

/** A method that compresses a pipeline's inter-stage traffic (needs pipelineStages > 1). */
export interface PipelineMethodDeclaration<S extends z.ZodObject> extends Declared<S> {
  kind: 'pipeline';
  create(params: z.output<S>): OptimusCcOptions;
}

interface MethodInfoBase {
  id: string;
  order: number;
  label: string;
  description: string;
  params: z.ZodObject;
  defaultErrorFeedback: EfModeName;
}

export interface GradientMethodInfo extends MethodInfoBase {
  kind: 'gradient';
  /** The collective pattern the method runs with these (raw) parameters. */
  pattern(params?: unknown): CollectivePattern;
  /** The shape of the method's rounds with these (raw) parameters, where it has a standard one. */
  travelsAs?: (params?: unknown) => RoundsShape;
  create(params: unknown, env: MethodEnv): Compressor;
}

export interface PipelineMethodInfo extends MethodInfoBase {
  kind: 'pipeline';
  pattern(params?: unknown): 'pipeline';
  create(params: unknown): OptimusCcOptions;
}

export type MethodInfo = GradientMethodInfo | PipelineMethodInfo;

/** Parses a method's params, naming the method and field on error. */
export function parseParams<S extends z.ZodObject>(
  id: string,
  schema: S,
  raw: unknown,
): z.output<S> {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) {
    throw new Error(
      r.error.issues
        .map((i) => `methods[${id}].params.${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('\n'),
    );
  }
  return r.data;
}

export function defineMethod<S extends z.ZodObject>(
  m: GradientMethodDeclaration<S>,
): GradientMethodInfo;
export function defineMethod<S extends z.ZodObject>(
  m: PipelineMethodDeclaration<S>,
): PipelineMethodInfo;
export function defineMethod<S extends z.ZodObject>(
  m: GradientMethodDeclaration<S> | PipelineMethodDeclaration<S>,
): MethodInfo {
  const parse = (raw: unknown): z.output<S> => parseParams(m.id, m.params, raw);
  const travelsAs = m.kind === 'gradient' ? m.travelsAs : undefined;
  const { id, order, label, description, params, defaultErrorFeedback } = m;
  const base = { id, order, label, description, params, defaultErrorFeedback };
  if (m.kind === 'pipeline')
    return {
      ...base,
      kind: 'pipeline',
      pattern: () => 'pipeline',
      create: (raw) => m.create(parse(raw)),
    };
  return {
    ...base,
    kind: 'gradient',
    pattern: (raw) => m.pattern(parse(raw)),
    ...(travelsAs ? { travelsAs: (raw: unknown) => travelsAs(parse(raw)) } : {}),
    create: (raw, env) => m.create(parse(raw), env),
  };
}
