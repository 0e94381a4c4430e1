/**
 * What a desktop shell needs from the engine, in one import: the service over a data directory
 * and the validating dispatcher. The Electron main process loads this from the compiled engine.
 */
import { dispatch } from './api-dispatch.js';
import { ApiService, type ApiServiceOptions } from './api-service.js';

export interface Host {
  service: ApiService;
  dispatch(name: unknown, args: unknown): Promise<unknown>;
}

export function createHost(options: ApiServiceOptions): Host {
  const service = new ApiService(options);
  return { service, dispatch: (name, args) => dispatch(service, name, args) };
}
