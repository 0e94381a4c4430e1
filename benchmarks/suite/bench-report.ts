/**
 * `npm run bench:report`: regenerates the suite's sections of BENCHMARKS.md and the figures in
 * docs/benchmarks/ from the committed scenario records, without running a benchmark.
 */
import { generateReport } from './report.js';

generateReport().then(
  (r) =>
    process.stdout.write(
      `bench:report: ${r.sections.length} sections in BENCHMARKS.md (${r.sections.join(', ')}), ${r.figures.length} figures\n`,
    ),
  (e: Error) => {
    process.stderr.write(`bench:report: ${e.message}\n`);
    process.exit(1);
  },
);
