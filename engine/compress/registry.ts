/**
 * Every compression method, one file each under methods/ (its id, label, place in the list,
 * parameters, pattern and how to build it). The UI renders its forms from this list; a new method
 * is one file plus its line in methods/all.ts (README: Adding a method).
 */
import { z } from 'zod';
import { parseParams, type GradientMethodInfo, type MethodInfo } from './method.js';
import * as listed from './methods/all.js';

export type { EfModeName, GradientMethodInfo, MethodInfo, PipelineMethodInfo } from './method.js';

/** Every method, in the order the app lists them (ascending `order`). */
export const ALL_METHODS: readonly MethodInfo[] = inOrder(Object.values(listed));

function inOrder(methods: readonly MethodInfo[]): MethodInfo[] {
  for (const key of ['id', 'order'] as const) {
    const seen = new Map<unknown, string>();
    for (const m of methods) {
      const other = seen.get(m[key]);
      if (other) throw new Error(`methods "${other}" and "${m.id}" share the ${key} ${m[key]}`);
      seen.set(m[key], m.id);
    }
  }
  return [...methods].sort((a, b) => a.order - b.order);
}

/** The methods that compress FSDP's gradient reduction (pipeline runs take the others). */
export const METHODS: readonly GradientMethodInfo[] = ALL_METHODS.filter(
  (m): m is GradientMethodInfo => m.kind === 'gradient',
);

/** The methods of the pipeline kind, quoted, for messages (`"optimus-cc"`). */
export const PIPELINE_METHOD_NAMES = ALL_METHODS.filter((m) => m.kind === 'pipeline')
  .map((m) => `"${m.id}"`)
  .join(' or ');

export const METHOD_IDS = ['fsdp', ...METHODS.map((m) => m.id)];

/** A gradient method by id. */
export function methodInfo(id: string): GradientMethodInfo {
  const m = METHODS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown method "${id}"; available: ${METHOD_IDS.join(', ')}`);
  return m;
}

/** Any method (gradient or pipeline) by id, or undefined. */
export const findMethod = (id: string): MethodInfo | undefined =>
  ALL_METHODS.find((m) => m.id === id);

export const ErrorFeedbackSchema = z.union([
  z.enum(['none', 'ef']),
  z.object({ mode: z.enum(['none', 'ef']) }).strict(),
  z.object({ mode: z.literal('econtrol'), eta: z.number().gt(0).max(1).default(0.5) }).strict(),
]);
export type ErrorFeedbackSetting = z.output<typeof ErrorFeedbackSchema>;

/** Validates a method's params, naming the method and field on error. */
export function parseMethodParams(id: string, params: unknown): Record<string, unknown> {
  return parseParams(id, methodInfo(id).params, params);
}
