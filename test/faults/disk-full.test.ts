/**
 * A full results disk: GRADBENCH_HOME on a small tmpfs, filled up before a run so its appends
 * (metrics.jsonl, rank logs) hit ENOSPC. The run must fail saying the disk is full (the file and
 * ENOSPC), still record that in a valid summary.json, leave no temp files or half-written JSON,
 * and leave the run and profile already in the store intact. Needs root (mount); skipped otherwise.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, ftruncateSync, rmSync, writeSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../../engine/app/launcher.js';
import { parseProfile } from '../../engine/run/profile.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { runProfile } from '../helpers/runs.js';
import {
  expectBystandersIntact,
  expectEnded,
  expectNoProcessLeft,
  makeBystanders,
  nano,
  type Bystanders,
} from './helpers.js';

const DISK = '4m';

/** Mounts a tmpfs of DISK bytes; returns its path, or why it cannot. */
function mountSmallDisk(): { dir?: string; why?: string } {
  if (process.platform !== 'linux') return { why: 'needs Linux (tmpfs)' };
  if (process.getuid?.() !== 0) return { why: 'needs root to mount a tmpfs' };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradbench-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return { why: `mount -t tmpfs failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

const disk = mountSmallDisk();
if (disk.why) console.warn(`skipping the full-disk trials: ${disk.why}`);

/** Fills the disk with one file, then gives back `leave` bytes (0: completely full). */
function fill(home: string, leave: number): void {
  const file = path.join(home, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  ftruncateSync(fd, Math.max(0, size - leave));
  closeSync(fd);
}

const unfill = (home: string): void => rmSync(path.join(home, 'filler'), { force: true });

describe.skipIf(!disk.dir)('a full results disk', () => {
  const home = disk.dir!;
  let bystanders: Bystanders;

  beforeAll(async () => {
    bystanders = await makeBystanders(home);
  }, 60_000);

  afterAll(() => {
    try {
      execFileSync('umount', [home], { stdio: 'pipe' });
      rmSync(home, { recursive: true, force: true });
    } catch (e) {
      console.warn(`could not unmount ${home}: ${(e as Error).message}`);
    }
  });

  it('fails the run with the file and ENOSPC, in a valid summary.json, store intact', async () => {
    // Room for the run's reserve, config and first summary, then a few steps of appends.
    fill(home, 96 * 1024);
    try {
      const r = await runProfile(nano('fills-disk', 400), home);
      await expectEnded(r, 'failed');
      expect(r.summary.error).toMatch(
        new RegExp(
          `^disk full: could not write ${r.dir}/(metrics\\.jsonl|ranks/\\d\\.log) \\(no space left on device\\); free some space and re-run \\(ENOSPC\\)$`,
        ),
      );
      expect(r.summary.methods[0]).toMatchObject({ status: 'failed' });
      expect(r.summary.methods[0].steps).toBeLessThan(400);
      await expectNoProcessLeft(r.pids);
      // No temp file, no reserve, and config.json is whole.
      expect((await readdir(r.dir)).sort()).toEqual(
        ['config.json', 'metrics.jsonl', 'ranks', 'summary.json'].sort(),
      );
      expect(JSON.parse(await readFile(path.join(r.dir, 'config.json'), 'utf8')).run).toBe(
        r.summary.run,
      );
      const listed = await new RunsStore(home).list();
      expect(listed.map((e) => [e.id, e.status, e.error])).toEqual(
        expect.arrayContaining([
          [r.summary.run, 'failed', undefined],
          [bystanders.runId, 'completed', undefined],
        ]),
      );
      await expectBystandersIntact(bystanders);
    } finally {
      unfill(home);
    }
  });

  it('refuses to start on a disk with no room for config.json, and leaves no run behind', async () => {
    const before = (await readdir(path.join(home, 'runs'))).sort();
    fill(home, 0);
    try {
      await expect(
        startRun(parseProfile(nano('no-room', 3)), { home }).then((h) => h.done),
      ).rejects.toThrow(/disk full: could not write .*config\.json.*\(ENOSPC\)/);
      expect((await readdir(path.join(home, 'runs'))).sort()).toEqual(before);
      await expectBystandersIntact(bystanders);
    } finally {
      unfill(home);
    }
  });
});
