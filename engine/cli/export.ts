/** `gradbench export`: a run's metrics as CSV. */
import { stepsCsv, summaryCsv } from '../app/csv.js';
import { dataHome } from '../util/home.js';
import { RunsStore } from '../app/runs-store.js';
import { UsageError } from './help.js';
import { emit, parse } from './args.js';

export async function exportCommand(args: string[]): Promise<number> {
  const usage = 'gradbench export <run> --csv [file] [--summary]';
  const { values, positionals } = parse(
    args,
    { csv: { type: 'boolean', default: false }, summary: { type: 'boolean', default: false } },
    { min: 1, max: 2, usage },
  );
  if (!values.csv) throw new UsageError(`choose an export format: --csv\nusage: ${usage}`);
  const store = new RunsStore(dataHome());
  const run = await store.get(await store.resolve(positionals[0]));
  for (const e of run.errors) process.stderr.write(`gradbench: ${e}\n`);
  if (values.summary) {
    if (!run.summary) throw new Error(`run ${run.id} has no usable summary.json yet`);
    await emit(summaryCsv(run.summary), positionals[1], `summary of ${run.id}`);
    return 0;
  }
  if (run.corruptLines) {
    process.stderr.write(
      `gradbench: skipped ${run.corruptLines} corrupt lines of ${run.id}/metrics.jsonl\n`,
    );
  }
  await emit(stepsCsv(run.metrics), positionals[1], `per-step metrics of ${run.id}`);
  return 0;
}
