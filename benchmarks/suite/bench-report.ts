/**
 * `npm run bench:report`: regenerates the suite's sections of BENCHMARKS.md and the figures in
 * docs/benchmarks/ from the committed scenario records, without running a benchmark.
 *   --from-runs [--home DIR]  first re-derive each record from its run directories where they
 *                             are still in the results home (after a change to what records keep)
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { runsDir } from '../../engine/util/home.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { generateReport } from './report.js';
import {
  predictOwnLinks,
  readScenarioRecords,
  recordFromRun,
  writeScenarioRecord,
} from './results.js';
import { DEFAULT_HOME } from './suite-home.js';

async function rederive(home: string): Promise<number> {
  const store = new RunsStore(home);
  let n = 0;
  for (const rec of readScenarioRecords()) {
    const runs = [];
    for (const r of rec.runs) {
      if (!existsSync(path.join(runsDir(home), r.run))) {
        runs.push(r);
        continue;
      }
      const { key, label, x, links, linkNote, wallSec } = r;
      const { predicted } = await predictOwnLinks(path.join(runsDir(home), r.run));
      runs.push(
        recordFromRun(await store.get(r.run), {
          predicted,
          key,
          label,
          links,
          wallSec,
          ...(x !== undefined ? { x } : {}),
          ...(linkNote ? { linkNote } : {}),
        }),
      );
      n++;
    }
    await writeScenarioRecord({ ...rec, runs });
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'from-runs': { type: 'boolean', default: false }, home: { type: 'string' } },
  });
  if (values['from-runs']) {
    const home = path.resolve(values.home ?? process.env.GRADBENCH_BENCH_HOME ?? DEFAULT_HOME);
    process.stdout.write(`bench:report: ${await rederive(home)} runs re-read from ${home}\n`);
  }
  const r = await generateReport();
  process.stdout.write(
    `bench:report: ${r.sections.length} sections in BENCHMARKS.md (${r.sections.join(', ')}), ${r.figures.length} figures\n`,
  );
}

main().catch((e: Error) => {
  process.stderr.write(`bench:report: ${e.message}\n`);
  process.exit(1);
});
