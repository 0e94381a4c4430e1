/**
 * The single entry point for API calls that arrive over a boundary (Electron IPC, the HTTP
 * bridge): the call name must be one of the API's, and its arguments are checked with zod before
 * anything runs, so a malformed payload is answered with an error naming the call and the
 * argument, never passed on.
 */
import { z } from 'zod';
import { API_CALLS, type ApiCallName } from './api.js';
import type { ApiService } from './api-service.js';

const runId = z.string().min(1).max(200);
const profileName = z.string().min(1).max(200);
/** A profile crossing the boundary: any JSON object; the profile schema judges its fields. */
const profileBody = z.record(z.string(), z.unknown());

const ARGS: Record<ApiCallName, z.ZodTuple> = {
  version: z.tuple([]),
  hardware: z.tuple([z.boolean().optional()]),
  catalog: z.tuple([]),
  listProfiles: z.tuple([]),
  validateProfile: z.tuple([profileBody]),
  saveProfile: z.tuple([profileBody]),
  deleteProfile: z.tuple([profileName]),
  startRun: z.tuple([
    z.union([z.object({ profileName }).strict(), z.object({ profile: profileBody }).strict()]),
  ]),
  cancelRun: z.tuple([runId]),
  liveRuns: z.tuple([]),
  listRuns: z.tuple([]),
  getRun: z.tuple([runId]),
  deleteRun: z.tuple([runId]),
  exportCsv: z.tuple([runId, z.enum(['steps', 'summary'])]),
  rankLogs: z.tuple([runId]),
  // A preset name or a cluster description (null or absent: the run's own links); the cluster
  // schema judges its fields.
  projectRun: z.tuple([
    runId,
    z.union([z.string().min(1).max(80), z.record(z.string(), z.unknown())]).nullish(),
  ]),
};

export class ApiCallError extends Error {
  override name = 'ApiCallError';
}

export function isApiCall(name: unknown): name is ApiCallName {
  return typeof name === 'string' && (API_CALLS as readonly string[]).includes(name);
}

/** Checks a call's name and arguments; throws ApiCallError naming what is wrong. */
export function checkCall(name: unknown, args: unknown): { name: ApiCallName; args: unknown[] } {
  if (!isApiCall(name))
    throw new ApiCallError(
      `unknown API call ${JSON.stringify(name)}; known calls: ${API_CALLS.join(', ')}`,
    );
  if (!Array.isArray(args)) throw new ApiCallError(`${name}: arguments must be an array`);
  const r = ARGS[name].safeParse(args);
  if (!r.success) {
    const what = r.error.issues
      .map((i) => {
        const [index, ...rest] = i.path;
        const where =
          typeof index === 'number'
            ? `argument ${index + 1}${rest.length ? ` (${rest.map(String).join('.')})` : ''}`
            : 'arguments';
        return `${where}: ${i.message}`;
      })
      .join('; ');
    throw new ApiCallError(`${name}: ${what}`);
  }
  return { name, args: r.data as unknown[] };
}

/** Validates and runs one call on the service. */
export async function dispatch(
  service: ApiService,
  name: unknown,
  args: unknown,
): Promise<unknown> {
  const call = checkCall(name, args);
  const fn = service[call.name] as (...a: unknown[]) => Promise<unknown>;
  return fn.apply(service, call.args);
}
