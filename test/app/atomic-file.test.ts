import * as fsp from 'node:fs/promises';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DiskFullError,
  FileProblem,
  readJsonFile,
  readOptionalJsonFile,
  writeFileAtomic,
  type AtomicFileHandle,
  type AtomicFs,
} from '../../engine/util/atomic-file.js';
import { tempDirs } from './helpers.js';

const newDir = tempDirs();
let dir: string;
let target: string;

beforeEach(async () => {
  dir = await newDir();
  target = path.join(dir, 'summary.json');
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

/**
 * The real file system, recording what it opens, except that step `at` fails with `code`; a
 * failing write first writes half of the data, as a disk that fills up mid-write does.
 */
function failingFs(
  code: string,
  at: 'write' | 'sync' | 'rename' | 'never',
): AtomicFs & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    async open(file, flags, mode) {
      const real = await fsp.open(file, flags, mode);
      opened.push(file);
      const handle: AtomicFileHandle = {
        async writeFile(data) {
          if (at !== 'write') return real.writeFile(data);
          const bytes = typeof data === 'string' ? Buffer.from(data) : data;
          await real.writeFile(bytes.subarray(0, bytes.length >> 1));
          throw errno(code);
        },
        async sync() {
          if (at === 'sync') throw errno(code);
          return real.sync();
        },
        close: () => real.close(),
      };
      return handle;
    },
    async rename(from, to) {
      if (at === 'rename') throw errno(code);
      return fsp.rename(from, to);
    },
    rm: (file, options) => fsp.rm(file, options),
  };
}

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temporary file', async () => {
    await writeFileAtomic(target, '{"a":1}');
    expect(await readFile(target, 'utf8')).toBe('{"a":1}');
    await writeFileAtomic(target, new Uint8Array([104, 105]));
    expect(await readFile(target, 'utf8')).toBe('hi');
    expect(await readdir(dir)).toEqual(['summary.json']);
  });

  it('writes through a temp file in the same directory', async () => {
    const fs = failingFs('', 'never');
    await writeFileAtomic(target, 'x', fs);
    const tmp = fs.opened.find((f) => f !== dir)!;
    expect(path.dirname(tmp)).toBe(dir);
    expect(path.basename(tmp)).toMatch(/^\.summary\.json\..+\.tmp$/);
  });

  it('on ENOSPC mid-write: says the disk is full naming the file, keeps the old content', async () => {
    await writeFile(target, 'old content');
    const err = await writeFileAtomic(
      target,
      'new content that does not fit',
      failingFs('ENOSPC', 'write'),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskFullError);
    expect((err as Error).message).toMatch(/disk full/);
    expect((err as Error).message).toContain(target);
    expect(await readFile(target, 'utf8')).toBe('old content');
    expect(await readdir(dir)).toEqual(['summary.json']);
  });

  it('on EDQUOT at fsync: disk full error, no target created, temp removed', async () => {
    const err = await writeFileAtomic(target, 'data', failingFs('EDQUOT', 'sync')).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DiskFullError);
    expect((err as DiskFullError).code).toBe('EDQUOT');
    expect((err as Error).message).toMatch(
      /disk full: could not write .*summary\.json \(disk quota exceeded\)/,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('on another failure (rename): names the file, keeps the old content, removes the temp', async () => {
    await writeFile(target, 'old');
    const err = await writeFileAtomic(target, 'new', failingFs('EACCES', 'rename')).catch(
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(DiskFullError);
    expect((err as Error).message).toContain(`could not write ${target}`);
    expect((err as NodeJS.ErrnoException).code).toBe('EACCES');
    expect(await readFile(target, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['summary.json']);
  });
});

describe('readJsonFile', () => {
  const Schema = z.object({ steps: z.number().int().min(1), name: z.string() });

  it('returns validated data', async () => {
    await writeFile(target, JSON.stringify({ steps: 3, name: 'a' }));
    expect(await readJsonFile(target, Schema, 'run summary')).toEqual({ steps: 3, name: 'a' });
  });

  it('reports a missing file by name; the optional variant gives undefined', async () => {
    const err = await readJsonFile(target, Schema, 'run summary').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileProblem);
    expect((err as FileProblem).kind).toBe('missing');
    expect((err as Error).message).toBe(`run summary ${target} does not exist`);
    expect(await readOptionalJsonFile(target, Schema, 'run summary')).toBeUndefined();
  });

  it('reports a corrupt file by name and leaves it as it is', async () => {
    await writeFile(target, '{"steps": 3, "na');
    for (const read of [readJsonFile, readOptionalJsonFile]) {
      const err = await read(target, Schema, 'run summary').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FileProblem);
      expect((err as FileProblem).kind).toBe('corrupt');
      expect((err as Error).message).toMatch(
        /^run summary .*summary\.json is corrupt \(not valid JSON: /,
      );
    }
    expect(await readFile(target, 'utf8')).toBe('{"steps": 3, "na');
  });

  it('reports every invalid field of a valid-JSON file', async () => {
    await writeFile(target, JSON.stringify({ steps: 0, name: 7 }));
    const err = (await readJsonFile(target, Schema, 'run summary').catch(
      (e: unknown) => e,
    )) as FileProblem;
    expect(err.kind).toBe('invalid');
    expect(err.problems.map((p) => p.split(':')[0])).toEqual(['steps', 'name']);
    expect(err.message).toContain(target);
  });
});
