/** Gradient reducers by method id: the FSDP baseline, or a compressor behind error feedback. */
import type { RunMethod } from '../run/run-config.js';
import { ErrorFeedbackSchema, methodInfo } from '../compress/registry.js';
import { CompressedReducer } from './compressed-reducer.js';
import { ErrorFeedback, type ErrorFeedbackMode } from '../compress/error-feedback.js';
import { FsdpBaselineReducer, type GradientReducer } from './grad-reducer.js';

export interface ReducerEnv {
  world: number;
  warmupSteps: number;
  gradClip: number;
  seed: number;
  relErrorEvery: number;
  /** Ranks per node (hierarchical methods); the world when absent. */
  ranksPerNode?: number;
}

export function errorFeedbackMode(method: RunMethod): ErrorFeedbackMode {
  const raw = method.errorFeedback ?? methodInfo(method.id).defaultErrorFeedback;
  const parsed = ErrorFeedbackSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(
      `methods[${method.id}].errorFeedback: use "none", "ef" or {"mode":"econtrol","eta":0.5}`,
    );
  const v = parsed.data;
  if (typeof v === 'string') return { mode: v };
  return v.mode === 'econtrol' ? { mode: 'econtrol', eta: v.eta } : { mode: v.mode };
}

export function createReducer(method: RunMethod, env: ReducerEnv): GradientReducer {
  if (method.id === 'fsdp') return new FsdpBaselineReducer();
  const info = methodInfo(method.id);
  const compressor = info.create(method.params, env);
  return new CompressedReducer(
    method.id,
    compressor,
    new ErrorFeedback(errorFeedbackMode(method)),
    {
      relErrorEvery: env.relErrorEvery,
      seed: env.seed,
    },
  );
}
