import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricLine, MethodSummary, RunSummary } from '../../engine/run/metrics.js';

export function metric(
  over: Partial<MetricLine> & Pick<MetricLine, 'method' | 'step' | 'rank'>,
): MetricLine {
  return {
    run: 'r1',
    loss: 4,
    computeMs: 10,
    exposedCommMs: 2,
    commMs: 5,
    encodeMs: 0,
    decodeMs: 0,
    stepMs: 12,
    rawBytes: 1000,
    wireBytes: 1000,
    tokens: 256,
    backend: 'wasm',
    ...over,
  };
}

export function methodSummary(
  over: Partial<MethodSummary> & Pick<MethodSummary, 'method'>,
): MethodSummary {
  return {
    label: over.method,
    status: 'completed',
    steps: 2,
    tokensPerSec: 1000,
    meanStepMs: 12,
    meanComputeMs: 10,
    meanExposedCommMs: 2,
    meanCommMs: 5,
    wireBytesPerStep: 2000,
    rawBytesPerStep: 2000,
    compressionRatio: 1,
    firstLoss: 4.5,
    finalLoss: 4,
    ...over,
  };
}

export function runSummary(
  id: string,
  methods: MethodSummary[],
  over: Partial<RunSummary> = {},
): RunSummary {
  return {
    run: id,
    profile: 'default',
    status: 'completed',
    startedAt: '2026-11-25T12:03:01.000Z',
    finishedAt: '2026-11-25T12:04:00.000Z',
    methods,
    ...over,
  };
}

/** Writes a run directory; `files` maps file names to contents (objects are JSON-encoded). */
export async function writeRun(
  home: string,
  id: string,
  files: Record<string, unknown>,
): Promise<string> {
  const dir = path.join(home, 'runs', id);
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(
      path.join(dir, name),
      typeof content === 'string' ? content : JSON.stringify(content),
    );
  }
  return dir;
}

export const jsonl = (lines: unknown[]): string =>
  lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
