/**
 * Every compression method, one file each under methods/ (its id, label, parameters, pattern and
 * how to build it). The UI renders its forms from this list; a new method is one file plus its
 * import and its entry in the list below (README: Adding a method).
 */
import { z } from 'zod';
import { parseParams, type GradientMethodInfo, type MethodInfo } from './method.js';
import { bf16 } from './methods/bf16.js';
import { dgc } from './methods/dgc.js';
import { fp16 } from './methods/fp16.js';
import { int4 } from './methods/int4.js';
import { int8 } from './methods/int8.js';
import { lhc } from './methods/lhc.js';
import { optimusCc } from './methods/optimus-cc.js';
import { powersgd } from './methods/powersgd.js';
import { qgz } from './methods/qgz.js';
import { qsgd } from './methods/qsgd.js';
import { randomk } from './methods/randomk.js';
import { signsgd } from './methods/signsgd.js';
import { tagc } from './methods/tagc.js';
import { terngrad } from './methods/terngrad.js';
import { topk } from './methods/topk.js';

export type { EfModeName, GradientMethodInfo, MethodInfo, PipelineMethodInfo } from './method.js';

/** Every method, in the order the app lists them. */
export const ALL_METHODS: readonly MethodInfo[] = [
  fp16,
  bf16,
  int8,
  int4,
  topk,
  randomk,
  dgc,
  powersgd,
  signsgd,
  qsgd,
  terngrad,
  qgz,
  lhc,
  tagc,
  optimusCc,
];

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
