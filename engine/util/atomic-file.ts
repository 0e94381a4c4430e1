/**
 * Files of the results store are replaced, never rewritten in place: the new content goes to a
 * temporary file in the same directory, is flushed to disk, then renamed over the target, so a
 * crash or a full disk leaves either the old file or the new one. Reads validate with zod and
 * report a damaged file by name; nothing here ever replaces a file it could not read.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { readTextFile, TextFileError } from './text-file.js';

/** The parts of `fs/promises` that an atomic write uses (injectable for tests). */
export interface AtomicFs {
  open(file: string, flags: string, mode?: number): Promise<AtomicFileHandle>;
  rename(from: string, to: string): Promise<void>;
  rm(file: string, options: { force: boolean }): Promise<void>;
}

export interface AtomicFileHandle {
  writeFile(data: string | Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

const nodeFs: AtomicFs = fsp;

/** Thrown when the disk (or the user's quota) is full; `file` is the target that was not written. */
export class DiskFullError extends Error {
  override name = 'DiskFullError';
  constructor(
    readonly file: string,
    readonly code: 'ENOSPC' | 'EDQUOT',
  ) {
    const why = code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
    super(`disk full: could not write ${file} (${why}); free some space and re-run (${code})`);
  }
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

function writeError(e: unknown, file: string): Error {
  const code = errnoCode(e);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DiskFullError(file, code);
  const err = new Error(`could not write ${file}: ${(e as Error).message}`, { cause: e });
  (err as NodeJS.ErrnoException).code = code;
  return err;
}

/** Makes the rename itself durable; not supported everywhere (Windows), hence best effort. */
async function syncDir(dir: string, fs: AtomicFs): Promise<void> {
  let handle: AtomicFileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // A directory that cannot be fsynced still holds the renamed file.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Replaces `file` with `data` atomically: temp file in the same directory, fsync, rename.
 * On any failure the temp file is removed and `file` keeps its previous content.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  fs: AtomicFs = nodeFs,
): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  let handle: AtomicFileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'wx', 0o666);
    await handle.writeFile(data);
    await handle.sync();
    const h = handle;
    handle = undefined;
    await h.close();
    await fs.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(e, file);
  }
  await syncDir(dir, fs);
}

export type FileProblemKind = 'missing' | 'unreadable' | 'corrupt' | 'invalid';

/** A file that could not be used, named in the message; `problems` lists invalid fields. */
export class FileProblem extends Error {
  override name = 'FileProblem';
  constructor(
    message: string,
    readonly file: string,
    readonly kind: FileProblemKind,
    readonly problems: string[] = [],
  ) {
    super(message);
  }
}

/** One line per invalid field: `train.steps: Too small: expected number to be >=1`. */
export function describeZodIssues(err: z.ZodError): string[] {
  return err.issues.map(
    (i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`,
  );
}

/** Parses JSON text and validates it; `what` and `file` name the source in errors. */
export function parseJsonText<S extends z.ZodType>(
  text: string,
  schema: S,
  what: string,
  file: string,
): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FileProblem(
      `${what} ${file} is corrupt (not valid JSON: ${(e as Error).message}); fix or delete it`,
      file,
      'corrupt',
    );
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const problems = describeZodIssues(r.error);
    throw new FileProblem(
      `${what} ${file} is invalid:\n  ${problems.join('\n  ')}`,
      file,
      'invalid',
      problems,
    );
  }
  return r.data;
}

/**
 * Reads and validates a JSON file (a regular file of at most `maxBytes`, UTF-8); throws
 * FileProblem naming the file when it cannot.
 */
export async function readJsonFile<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
  maxBytes?: number,
): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readTextFile(file, `${what} ${file}`, maxBytes);
  } catch (e) {
    if (!(e instanceof TextFileError)) throw e;
    const fix = e.kind === 'corrupt' ? '; fix or delete it' : '';
    throw new FileProblem(`${e.message}${fix}`, file, e.kind);
  }
  return parseJsonText(text, schema, what, file);
}

/** As readJsonFile, but a missing file gives `undefined`. */
export async function readOptionalJsonFile<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
): Promise<z.output<S> | undefined> {
  try {
    return await readJsonFile(file, schema, what);
  } catch (e) {
    if (e instanceof FileProblem && e.kind === 'missing') return undefined;
    throw e;
  }
}
