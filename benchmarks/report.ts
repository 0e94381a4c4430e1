/** Shared pieces of the benchmark reports: the machine line and marked sections of BENCHMARKS.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../engine/util/runtime-path.js';

export const BENCHMARKS_FILE = path.join(packageRoot, 'BENCHMARKS.md');

export function machineLine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${os.platform()} ${os.arch()}; load average before the run ${load}`;
}

/** Replaces the section `name` of BENCHMARKS.md (between its markers) or appends it. */
export function writeSection(name: string, body: string, file = BENCHMARKS_FILE): void {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = `${start}\n${body.trim()}\n${end}`;
  if (!existsSync(file)) {
    writeFileSync(file, `# Benchmarks\n\n${section}\n`);
    return;
  }
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(start);
  const b = a >= 0 ? text.indexOf(end, a) : -1;
  writeFileSync(
    file,
    a >= 0 && b >= 0
      ? text.slice(0, a) + section + text.slice(b + end.length)
      : `${text.replace(/\s*$/, '')}\n\n${section}\n`,
  );
}

/** A GitHub-flavoured markdown table. */
export function mdTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
