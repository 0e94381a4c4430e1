/** What every command shares: argument parsing with usage errors, output, the version. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../util/atomic-file.js';
import { packageRoot } from '../util/runtime-path.js';
import { UsageError } from './help.js';

export const print = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};

export type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs with usage errors; checks the number of positionals. */
export function parse<O extends Options>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; usage: string },
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${positionals.usage}`);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new UsageError(
      `${n < positionals.min ? 'missing argument' : `unexpected argument "${parsed.positionals[positionals.max]}"`}\nusage: ${positionals.usage}`,
    );
  }
  return parsed;
}

export const json = { type: 'boolean', default: false } as const;

export function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Writes `text` to `file` (atomically) or to stdout. */
export async function emit(text: string, file: string | undefined, what: string): Promise<void> {
  if (!file) {
    process.stdout.write(text);
    return;
  }
  await writeFileAtomic(path.resolve(file), text);
  process.stderr.write(`wrote ${what} to ${file}\n`);
}
