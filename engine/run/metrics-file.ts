/** Reading a run's metrics.jsonl, which a crashed or killed rank may have left with a torn line. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { describeZodIssues } from '../util/atomic-file.js';
import { MetricLineSchema, type MetricLine } from './metrics.js';

/** At most this many damaged lines are quoted back (the count covers all of them). */
const MAX_CORRUPT_SAMPLES = 5;

export interface MetricsFile {
  metrics: MetricLine[];
  /** Lines that were not valid records (skipped). */
  corruptLines: number;
  /** The first few of them, `line <n>: <why>`. */
  corruptSamples: string[];
}

/** Reads metrics.jsonl line by line, skipping (and counting) lines that are not valid records. */
export async function readMetrics(file: string): Promise<MetricsFile> {
  const metrics: MetricLine[] = [];
  const corruptSamples: string[] = [];
  let corruptLines = 0;
  const bad = (n: number, why: string): void => {
    corruptLines++;
    if (corruptSamples.length < MAX_CORRUPT_SAMPLES) corruptSamples.push(`line ${n}: ${why}`);
  };
  const input = createReadStream(file, { encoding: 'utf8' });
  const failed = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    input.once('error', resolve);
    input.once('open', () => resolve(undefined));
  });
  if (failed?.code === 'ENOENT') return { metrics, corruptLines, corruptSamples };
  if (failed) throw new Error(`could not read ${file}: ${failed.message}`);
  let n = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    n++;
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      bad(n, 'not valid JSON');
      continue;
    }
    const r = MetricLineSchema.safeParse(value);
    if (r.success) metrics.push(r.data);
    else bad(n, describeZodIssues(r.error).join('; '));
  }
  return { metrics, corruptLines, corruptSamples };
}
