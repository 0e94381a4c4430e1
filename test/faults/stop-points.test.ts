/**
 * A run's record stays readable wherever the run stops: during the first method's rank start-up,
 * at its step 0, in the middle of it, between methods, during a later method's rank start-up,
 * and after the last. At each point summary.json passes the store's schema (no null or NaN
 * figures), lists every method with its status, keeps the completed methods' figures, and the
 * store, the summary CSV and the CLI agree. (Before spawn: test/app/preflight.test.ts.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { summaryCsv } from '../../engine/app/csv.js';
import type { RunEvent } from '../../engine/app/launcher.js';
import {
  RunSummarySchema,
  type MethodStatus,
  type RunStatus,
  type RunSummary,
} from '../../engine/run/metrics.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { runCli } from '../helpers/cli.js';
import { runProfile, tempHome } from '../helpers/runs.js';
import { expectNoProcessLeft, nano } from './helpers.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

const STEPS = 3;

interface StopPoint {
  title: string;
  env?: Record<string, string>;
  /** Cancel the run (Ctrl-C) at the first event this accepts. */
  cancelAt?: (e: RunEvent) => boolean;
  status: RunStatus;
  /** Per method (FSDP, then fp16): status and steps recorded. */
  methods: [MethodStatus, number][];
}

const startOf = (method: string) => (e: RunEvent) =>
  e.type === 'ranks-started' && e.method === method;

const STOP_POINTS: StopPoint[] = [
  {
    title: 'Ctrl-C while the first method starts its ranks',
    cancelAt: startOf('fsdp'),
    status: 'cancelled',
    methods: [
      ['cancelled', 0],
      ['not started', 0],
    ],
  },
  {
    title: 'a rank crashes at step 0 of the first method',
    env: { GRADBENCH_FAULT: 'crash:1:0' },
    status: 'failed',
    methods: [
      ['failed', 0],
      ['not started', 0],
    ],
  },
  {
    title: 'a rank crashes in the middle of the first method',
    env: { GRADBENCH_FAULT: 'crash:1:2' },
    status: 'failed',
    methods: [
      ['failed', 2],
      ['not started', 0],
    ],
  },
  {
    title: 'Ctrl-C between the methods',
    cancelAt: (e) => e.type === 'method-end' && e.summary.method === 'fsdp',
    status: 'cancelled',
    methods: [
      ['completed', STEPS],
      ['not started', 0],
    ],
  },
  {
    title: 'Ctrl-C while a later method starts its ranks',
    cancelAt: startOf('fp16'),
    status: 'cancelled',
    methods: [
      ['completed', STEPS],
      ['cancelled', 0],
    ],
  },
  {
    title: 'after the last method',
    status: 'completed',
    methods: [
      ['completed', STEPS],
      ['completed', STEPS],
    ],
  },
];

/** summary.json as written: schema-valid, and no figure written as null (JSON's NaN). */
function savedSummary(dir: string): RunSummary {
  const text = readFileSync(path.join(dir, 'summary.json'), 'utf8');
  expect(text).not.toMatch(/\bnull\b/);
  const parsed = RunSummarySchema.safeParse(JSON.parse(text));
  expect(parsed.success, parsed.error?.message).toBe(true);
  return parsed.data!;
}

describe('a run stopped at any point keeps a valid, complete record (nano, 2 ranks, FSDP + fp16)', () => {
  for (const point of STOP_POINTS) {
    it(
      point.title,
      async () => {
        let cancelled = false;
        /** Every summary.json the run wrote while running, read at each event. */
        const snapshots: RunSummary[] = [];
        let dir = '';
        const r = await runProfile(
          nano(`stop-${point.status}`, STEPS, 2, { methods: [{ id: 'fp16' }] }),
          home,
          {
            env: point.env,
            onEvent: (e, cancel) => {
              if (e.type === 'run-start') dir = e.dir;
              else if (dir && e.type !== 'run-end') snapshots.push(savedSummary(dir));
              if (!cancelled && point.cancelAt?.(e)) {
                cancelled = true;
                cancel();
              }
            },
          },
        );
        // While running, every method is listed: running ones and the ones not started yet.
        expect(snapshots.length).toBeGreaterThan(0);
        for (const s of snapshots) expect(s.methods.map((m) => m.method)).toEqual(['fsdp', 'fp16']);
        expect(snapshots[0].methods.map((m) => m.status)).toEqual(['running', 'not started']);

        const saved = savedSummary(r.dir);
        expect(saved).toEqual(r.summary);
        expect(saved.status, saved.error).toBe(point.status);
        expect(saved.methods.map((m) => [m.status, m.steps])).toEqual(point.methods);
        for (const m of saved.methods) {
          if (m.status === 'completed') {
            expect(m.meanStepMs).toBeGreaterThan(0);
            expect(m.finalLoss).toBeGreaterThan(0);
            expect(m.speedupVsBaseline).toBeGreaterThan(0);
          }
          if (m.steps === 0) expect(m.meanStepMs).toBeUndefined();
        }

        // Every reader agrees: the list, the run view and the summary export.
        const store = new RunsStore(home);
        const id = path.basename(r.dir);
        expect((await store.describe(id)).status).toBe(point.status);
        const detail = await store.get(id);
        expect(detail.errors).toEqual([]);
        expect(detail.summary).toEqual(saved);
        expect(summaryCsv(detail.summary!)).not.toMatch(/null|NaN/);
        if (r.pids.length) await expectNoProcessLeft(r.pids);

        if (point.title.includes('later method')) {
          // The CLI a person uses shows the completed method beside the cancelled one.
          const listed = await runCli(home, ['runs', 'list', '--json']);
          expect(listed.code, listed.stderr).toBe(0);
          const entry = (JSON.parse(listed.stdout) as { id: string; status: string }[]).find(
            (x) => x.id === id,
          );
          expect(entry?.status).toBe('cancelled');
          const shown = await runCli(home, ['runs', 'show', id]);
          expect(shown.code, shown.stderr).toBe(0);
          expect(shown.stdout).toMatch(/^FSDP \(fp32\)\s+completed\s+3\s/m);
          expect(shown.stdout).toMatch(/^fp16\s+cancelled\s+0\s/m);
          const exported = await runCli(home, ['export', id, '--csv', '--summary']);
          expect(exported.code, exported.stderr).toBe(0);
          expect(exported.stdout.trim().split('\r\n')).toHaveLength(3);
        }
      },
      120_000,
    );
  }
});
