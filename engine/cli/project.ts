/**
 * `gradbench project <run> [--cluster preset|file.json] [--json]`: a measured run's methods on
 * another cluster (or, without --cluster, on the run's own links next to what was measured).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration, formatNumber, plural, table } from '../util/format.js';
import { dataHome } from '../util/home.js';
import { RunsStore } from '../app/runs-store.js';
import { UsageError } from './help.js';
import { readTextFile, TextFileError } from '../util/text-file.js';
import {
  CLUSTER_PRESET_NAMES,
  projectRun,
  readRunProfiles,
  resolveCluster,
} from '../projection/index.js';
import type { ClusterSpec, RunProjection } from '../run/projection-types.js';

export const PROJECT_USAGE =
  'gradbench project <run | run dir> [--cluster <preset | file.json>] [--json]';

/** A cluster description is a few hundred bytes; anything this big is something else. */
const CLUSTER_FILE_MAX_BYTES = 1_000_000;

/** A cluster from a preset name or a JSON file (a regular UTF-8 file, size checked first). */
export async function loadCluster(arg: string): Promise<ClusterSpec> {
  if (!arg.endsWith('.json') && !existsSync(arg)) return resolveCluster(arg);
  let text: string;
  try {
    text = await readTextFile(arg, `cluster file ${arg}`, CLUSTER_FILE_MAX_BYTES);
  } catch (e) {
    if (e instanceof TextFileError && e.kind === 'missing')
      throw new Error(
        `${arg} is neither a cluster preset (${CLUSTER_PRESET_NAMES.join(', ')}) nor a readable file`,
      );
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${arg}: not valid JSON (${(e as Error).message})`);
  }
  return resolveCluster(json, arg);
}

const tier = (t: { gbps: number; latencyUs: number }): string =>
  `${t.gbps} Gb/s, ${t.latencyUs} us`;

/** One line describing a cluster. */
export function clusterLine(c: ClusterSpec): string {
  const gpu = c.gpu
    ? `${c.gpu.name ?? 'GPU'} ${c.gpu.tflops} TFLOP/s x ${c.gpu.efficiency}`
    : 'compute as measured on this box';
  return `${c.name}: ${plural(c.nodes, 'node')} x ${c.gpusPerNode}, ${gpu}; intra ${tier(c.intra)}; inter ${tier(c.inter)}${c.sharedNic ? " (NIC shared by a GPU's peers)" : ''}`;
}

const speedup = (x: number | undefined): string =>
  x === undefined ? '-' : `${formatNumber(x, 2)}x`;

export function projectionText(r: RunProjection): string {
  const m = r.model;
  const own = r.methods.some((x) => x.errorVsMeasured !== undefined);
  const header = [
    'METHOD',
    'PATTERN',
    'WIRE',
    'STEP',
    'COMPUTE',
    'EXPOSED COMM',
    'VS FSDP',
    'VS BF16',
  ];
  if (own) header.push('MEASURED', 'ERROR');
  const rows = r.methods.map((x) => {
    const row = [
      x.label,
      x.pattern,
      `${formatNumber(x.wireRatio, 3)}x`,
      formatDuration(x.stepMs),
      formatDuration(x.computeMs),
      formatDuration(x.exposedCommMs),
      speedup(x.speedupVsFsdp),
      speedup(x.speedupVsBf16),
    ];
    if (own)
      row.push(
        formatDuration(x.measured?.stepMs),
        x.errorVsMeasured === undefined ? '-' : `${formatNumber(100 * x.errorVsMeasured, 1)} %`,
      );
    return row;
  });
  return [
    `run      ${r.run}`,
    `cluster  ${clusterLine(r.cluster)}`,
    `model    ${m.layers} layers x ${m.dModel}, seq ${m.seqLen}, vocab ${m.vocab}: ${formatNumber(r.params / 1e6, 2)} M parameters; ${plural(r.world, 'rank')} on ${plural(r.nodes, 'node')}, ${r.sharding}`,
    '',
    table(header, rows, { align: ['l', 'l', ...header.slice(2).map(() => 'r' as const)] }),
    '',
    'inputs:',
    ...r.inputs.map((i) => `  - ${i}`),
  ].join('\n');
}

/** A run id (prefix, "latest") in the data directory, or a run directory path. */
async function runDir(arg: string): Promise<string> {
  if (existsSync(path.join(arg, 'config.json'))) return arg;
  const store = new RunsStore(dataHome());
  return path.join(store.dir, await store.resolve(arg));
}

export async function projectCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { cluster: { type: 'string' }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${PROJECT_USAGE}`);
  }
  if (parsed.positionals.length !== 1)
    throw new UsageError(
      `${parsed.positionals.length ? 'unexpected argument' : 'missing argument'}\nusage: ${PROJECT_USAGE}`,
    );
  const measured = await readRunProfiles(await runDir(parsed.positionals[0]));
  const cluster = parsed.values.cluster ? await loadCluster(parsed.values.cluster) : undefined;
  const r = projectRun(measured, cluster);
  process.stdout.write(`${parsed.values.json ? JSON.stringify(r, null, 2) : projectionText(r)}\n`);
  return 0;
}
