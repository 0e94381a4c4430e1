import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  makeApi,
  type ApiEvent,
  type LiveRun,
  type ProfileListEntry,
} from '../../engine/app/api.js';
import { setApi } from '../../renderer/src/api/index.js';
import { parseHash } from '../../renderer/src/stores/nav.js';
import { freeName, issuesByPath, useProfilesStore } from '../../renderer/src/stores/profiles.js';
import { useResultsStore } from '../../renderer/src/stores/results.js';
import { useRunsStore } from '../../renderer/src/stores/runs.js';

/** An in-memory API: records calls, answers from `answers`, and lets a test push events. */
function fakeApi(answers: Record<string, (...args: unknown[]) => unknown>) {
  const calls: [string, unknown[]][] = [];
  const listeners = new Set<(e: ApiEvent) => void>();
  const api = makeApi(
    async (name, args) => {
      calls.push([name, args]);
      const answer = answers[name];
      if (!answer) throw new Error(`unexpected call ${name}`);
      return answer(...args);
    },
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  );
  return { api, calls, push: (e: ApiEvent) => listeners.forEach((l) => l(e)), listeners };
}

const liveRun = (id: string, status: LiveRun['status'], step = 0): LiveRun => ({
  id,
  profile: 'p',
  status,
  startedAt: '2026-01-01T00:00:00Z',
  methods: [{ key: 'fsdp', label: 'FSDP', status: 'running', step, steps: 10, points: [] }],
  ranks: [],
  logs: [],
  warnings: [],
});

beforeEach(() => setActivePinia(createPinia()));

describe('profiles store', () => {
  it('loads, saves valid drafts and returns the issues of invalid ones', async () => {
    let saved: ProfileListEntry[] = [{ name: 'default', builtin: true }];
    const { api, calls } = fakeApi({
      listProfiles: () => saved,
      saveProfile: (p) => {
        const draft = p as { name: string };
        if (!draft.name) return { ok: false, issues: [{ path: 'name', message: 'Too small' }] };
        saved = [...saved, { name: draft.name, builtin: false }];
        return { ok: true, profile: draft };
      },
      validateProfile: () => ({
        ok: false,
        issues: [{ path: 'train.steps', message: 'Too small' }],
      }),
      deleteProfile: (name) => {
        saved = saved.filter((s) => s.name !== name);
      },
    });
    setApi(api);
    const store = useProfilesStore();
    await store.load();
    expect(store.names).toEqual(['default']);
    expect(await store.save({ name: '' })).toEqual([{ path: 'name', message: 'Too small' }]);
    expect(store.names).toEqual(['default']);
    expect(await store.save({ name: 'mine' })).toEqual([]);
    expect(store.names).toEqual(['default', 'mine']);
    expect(await store.validate({})).toEqual([{ path: 'train.steps', message: 'Too small' }]);
    await store.remove('mine');
    expect(store.names).toEqual(['default']);
    expect(calls.map((c) => c[0])).toEqual([
      'listProfiles',
      'saveProfile',
      'saveProfile',
      'listProfiles',
      'validateProfile',
      'deleteProfile',
      'listProfiles',
    ]);
  });

  it('keeps a load error instead of throwing', async () => {
    setApi(fakeApi({ listProfiles: () => Promise.reject(new Error('server gone')) }).api);
    const store = useProfilesStore();
    await store.load();
    expect(store.error).toBe('server gone');
  });

  it('names copies and groups issues by field', () => {
    expect(freeName('base', ['base copy'])).toBe('base copy 2');
    expect(freeName('base copy 2', ['base copy', 'base copy 2'])).toBe('base copy 3');
    expect(
      issuesByPath([
        { path: 'a', message: 'x' },
        { path: 'a', message: 'y' },
        { path: 'b.c', message: 'z' },
      ]),
    ).toEqual({ a: ['x', 'y'], 'b.c': ['z'] });
  });
});

describe('runs store', () => {
  it('follows live events and refreshes the history when runs change', async () => {
    let history = [{ id: 'old', profile: 'p', status: 'completed', methods: [] }];
    const fake = fakeApi({
      liveRuns: () => [],
      listRuns: () => history,
      startRun: () => liveRun('r1', 'running'),
      cancelRun: () => undefined,
    });
    setApi(fake.api);
    const store = useRunsStore();
    await store.init();
    await store.init();
    expect(fake.listeners.size).toBe(1);
    expect(store.history.map((h) => h.id)).toEqual(['old']);
    await store.start({ profileName: 'p' });
    expect(store.running.map((r) => r.id)).toEqual(['r1']);
    fake.push({ type: 'run', run: liveRun('r1', 'running', 4) });
    expect(store.live.r1.methods[0].step).toBe(4);
    fake.push({ type: 'run', run: liveRun('r1', 'cancelled', 5) });
    expect(store.running).toEqual([]);
    history = [{ id: 'r1', profile: 'p', status: 'cancelled', methods: [] }, ...history];
    fake.push({ type: 'runs-changed' });
    await new Promise((r) => setTimeout(r, 0));
    expect(store.history.map((h) => h.id)).toEqual(['r1', 'old']);
    await store.cancel('r1');
    expect(fake.calls.some(([n, a]) => n === 'cancelRun' && a[0] === 'r1')).toBe(true);
    store.stop();
    expect(fake.listeners.size).toBe(0);
  });
});

describe('results store', () => {
  it('opens one run, or adds runs to compare', async () => {
    const view = (id: string) => ({ id, status: 'completed', steps: {}, problems: [] });
    setApi(
      fakeApi({
        getRun: (id) =>
          id === 'bad' ? Promise.reject(new Error('no run "bad"')) : view(id as string),
      }).api,
    );
    const store = useResultsStore();
    await store.show('a');
    await store.show('b', true);
    expect(store.open.map((r) => r.id)).toEqual(['a', 'b']);
    await store.show('c');
    expect(store.open.map((r) => r.id)).toEqual(['c']);
    await store.show('bad');
    expect(store.error).toBe('no run "bad"');
    expect(store.open.map((r) => r.id)).toEqual(['c']);
  });
});

describe('navigation', () => {
  it('reads the page and its argument from the hash, falling back to hardware', () => {
    expect(parseHash('#/results/run%201')).toEqual({ page: 'results', arg: 'run 1' });
    expect(parseHash('#/profiles')).toEqual({ page: 'profiles' });
    expect(parseHash('#/nonsense')).toEqual({ page: 'hardware' });
    expect(parseHash('')).toEqual({ page: 'hardware' });
  });
});
