/** Gradient reducers by method id. Compression methods register here. */
import { FsdpBaselineReducer, type GradientReducer } from './grad-reducer.js';
import type { RunMethod } from '../app/run-config.js';

export function createReducer(method: RunMethod): GradientReducer {
  switch (method.id) {
    case 'fsdp':
      return new FsdpBaselineReducer();
    default:
      throw new Error(`unknown method "${method.id}"; available: fsdp`);
  }
}
