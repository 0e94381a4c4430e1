/**
 * Configuration of one rank's communication layer, from the torchrun-style environment that
 * every launcher (ours, mpirun, srun, a Kubernetes Job, a person with a shell) can set.
 */
import { z } from 'zod';
import { NetworkSchema } from './emulation.js';

export const CommConfigSchema = z
  .object({
    rank: z.number().int().min(0),
    world: z.number().int().min(1).max(1024),
    /** Ranks per node; the world is split into world / localWorld nodes. */
    localWorld: z.number().int().min(1),
    masterAddr: z.string().min(1),
    masterPort: z.number().int().min(1).max(65535),
    token: z.string().min(16, 'the run token must be at least 16 characters'),
    /** Interface the mesh listens on; loopback unless ranks span several hosts. */
    listenHost: z.string().default('127.0.0.1'),
    advertiseHost: z.string().optional(),
    network: NetworkSchema.default({ intra: 'off', inter: 'off', sharedNic: true }),
    joinTimeoutMs: z.number().int().positive().default(30_000),
    /** An unauthenticated connection must complete its Hello within this time. */
    handshakeTimeoutMs: z.number().int().positive().default(10_000),
    maxMessageBytes: z.number().int().positive().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.rank >= c.world)
      ctx.addIssue({
        code: 'custom',
        path: ['rank'],
        message: `rank ${c.rank} must be below the world size ${c.world}`,
      });
    if (c.world % c.localWorld !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['localWorld'],
        message: `LOCAL_WORLD_SIZE ${c.localWorld} must divide WORLD_SIZE ${c.world}`,
      });
    }
  });
export type CommConfig = z.output<typeof CommConfigSchema>;
export type CommConfigInput = z.input<typeof CommConfigSchema>;

const ENV_NAMES: Record<string, string> = {
  rank: 'RANK',
  world: 'WORLD_SIZE',
  localWorld: 'LOCAL_WORLD_SIZE',
  masterAddr: 'MASTER_ADDR',
  masterPort: 'MASTER_PORT',
  token: 'GRADBENCH_TOKEN',
  listenHost: 'GRADBENCH_LISTEN_ADDR',
  network: 'GRADBENCH_NETWORK',
  joinTimeoutMs: 'GRADBENCH_JOIN_TIMEOUT_S',
};

/** Formats zod issues as one line per field, naming the environment variable to fix. */
export function describeIssues(err: z.ZodError, names: Record<string, string> = {}): string {
  return err.issues
    .map((i) => {
      const field = i.path.map(String).join('.') || '(root)';
      const head = names[String(i.path[0])] ?? field;
      return `${head}: ${i.message}`;
    })
    .join('\n');
}

function intEnv(env: NodeJS.ProcessEnv, name: string, problems: string[]): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (/^-?\d+$/.test(v.trim())) return Number(v);
  problems.push(`${name}: "${v}" is not a whole number`);
  return undefined;
}

/** Reads RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, GRADBENCH_TOKEN, ... */
export function commConfigFromEnv(env: NodeJS.ProcessEnv = process.env): CommConfig {
  let network: unknown;
  if (env.GRADBENCH_NETWORK) {
    try {
      network = JSON.parse(env.GRADBENCH_NETWORK);
    } catch {
      throw new Error(
        'GRADBENCH_NETWORK: not valid JSON; expected e.g. {"intra":"off","inter":"1GbE"}',
      );
    }
  }
  const problems: string[] = [];
  const world = intEnv(env, 'WORLD_SIZE', problems);
  const timeoutS = env.GRADBENCH_JOIN_TIMEOUT_S ? Number(env.GRADBENCH_JOIN_TIMEOUT_S) : undefined;
  const parsed = CommConfigSchema.safeParse({
    rank: intEnv(env, 'RANK', problems),
    world,
    localWorld: intEnv(env, 'LOCAL_WORLD_SIZE', problems) ?? world,
    masterAddr: env.MASTER_ADDR,
    masterPort: intEnv(env, 'MASTER_PORT', problems),
    token: env.GRADBENCH_TOKEN,
    listenHost: env.GRADBENCH_LISTEN_ADDR || undefined,
    advertiseHost: env.GRADBENCH_ADVERTISE_ADDR || undefined,
    network,
    joinTimeoutMs: timeoutS === undefined ? undefined : Math.round(timeoutS * 1000),
  });
  if (!parsed.success) {
    const named = new Set(problems.map((p) => p.split(':')[0]));
    const rest = describeIssues(parsed.error, ENV_NAMES)
      .split('\n')
      .filter((line) => !named.has(line.split(':')[0]));
    throw new Error(`invalid rank environment:\n${[...problems, ...rest].join('\n')}`);
  }
  return parsed.data;
}

/** The environment a launcher gives rank `rank` (inverse of commConfigFromEnv). */
export function rankEnv(c: CommConfigInput & { rank: number }): Record<string, string> {
  const env: Record<string, string> = {
    RANK: String(c.rank),
    WORLD_SIZE: String(c.world),
    LOCAL_RANK: String(c.rank % c.localWorld),
    LOCAL_WORLD_SIZE: String(c.localWorld),
    MASTER_ADDR: c.masterAddr,
    MASTER_PORT: String(c.masterPort),
    GRADBENCH_TOKEN: c.token,
  };
  if (c.listenHost) env.GRADBENCH_LISTEN_ADDR = c.listenHost;
  if (c.network) env.GRADBENCH_NETWORK = JSON.stringify(c.network);
  if (c.joinTimeoutMs) env.GRADBENCH_JOIN_TIMEOUT_S = String(c.joinTimeoutMs / 1000);
  return env;
}
