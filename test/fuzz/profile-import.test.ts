/**
 * Randomized profile import: random JSON, mutations of valid profiles, huge strings, deep
 * nesting and prototype-machinery keys, through the text import (what a file brings in) and the
 * object path (what IPC and the HTTP bridge deliver). Every input is either accepted as a profile
 * that round-trips through its saved file, or refused with a validation error that names the
 * field; nothing else is thrown, no file is written on refusal and no prototype is touched.
 */
import { readdir, readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, dispatch } from '../../engine/app/api-dispatch.js';
import { ApiService } from '../../engine/app/api-service.js';
import type { Validation } from '../../engine/app/api.js';
import {
  BUILTIN_PROFILES,
  ProfileError,
  checkProfile,
  type Profile,
} from '../../engine/run/profile.js';
import {
  PROFILE_MAX_BYTES,
  ProfilesStore,
  parseProfileText,
} from '../../engine/app/profiles-store.js';
import { fuzz, forEachCase, type Fuzz } from './fuzz-seed.js';

const VALID: unknown[] = [
  ...Object.values(BUILTIN_PROFILES),
  {
    name: 'fuzz-methods',
    model: { preset: 'micro' },
    train: { steps: 10, batchPerRank: 4, lr: 0.001 },
    parallel: { worldSize: 4, nodes: 2, sharding: 'HYBRID_SHARD' },
    network: { intra: 'NVLink', inter: { gbps: 1, latencyUs: 50 } },
    methods: [
      { id: 'topk', params: { ratio: 0.05 } },
      { id: 'int8', params: { block: 128, scale: 'agreed' }, errorFeedback: 'none' },
      { id: 'tagc', params: {}, label: 'tagc default' },
      { id: 'powersgd', params: { rank: 2 }, errorFeedback: { mode: 'econtrol', eta: 0.5 } },
    ],
  },
  { name: 'fuzz custom model', model: { layers: 2, dModel: 32, heads: 4, seqLen: 16 } },
];

const KEYS = [
  'name',
  'model',
  'preset',
  'train',
  'steps',
  'methods',
  'id',
  'params',
  'parallel',
  'worldSize',
  'network',
  'inter',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
  'ключ',
  '\u0000',
];

/** Accepted profiles are saved for real (an fsynced file) one in this many. */
const SAVE_EVERY = 8;

const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** Sets an own, enumerable property, also for `__proto__` (plain assignment would set the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function randomString(f: Fuzz): string {
  const alphabet = ['a', 'Z', '0', '-', '_', '.', ' ', '"', '\\', '\n', 'é', '😀', '\u2028', '<'];
  const n = f.chance(0.1) ? f.int(5000) : f.int(12);
  return Array.from({ length: n }, () => f.pick(alphabet)).join('');
}

function randomNumber(f: Fuzz): number {
  return f.pick([
    0,
    -0,
    1,
    -1,
    2,
    3,
    64,
    65,
    1e308,
    -1e308,
    5e-324,
    0.5,
    Number.MAX_SAFE_INTEGER + 2,
    f.int(100),
    (f.next() - 0.5) * 1e6,
  ]);
}

function randomJson(f: Fuzz, depth: number): unknown {
  const kind = depth <= 0 ? f.int(4) : f.int(6);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return f.chance(0.5);
    case 2:
      return randomNumber(f);
    case 3:
      return randomString(f);
    case 4:
      return Array.from({ length: f.int(5) }, () => randomJson(f, depth - 1));
    default: {
      const obj: Record<string, unknown> = {};
      for (let k = f.int(6); k > 0; k--)
        setOwn(obj, f.chance(0.7) ? f.pick(KEYS) : randomString(f), randomJson(f, depth - 1));
      return obj;
    }
  }
}

/** Nests `inner` `levels` deep in arrays or objects. */
function nest(f: Fuzz, inner: unknown, levels: number): unknown {
  let v = inner;
  const asArray = f.chance(0.5);
  for (let i = 0; i < levels; i++) v = asArray ? [v] : { k: v };
  return v;
}

/** The (container, key) places in the top levels of a value, to mutate one of them. */
function places(
  v: unknown,
  out: [Record<string, unknown> | unknown[], string | number][] = [],
  depth = 0,
): [Record<string, unknown> | unknown[], string | number][] {
  if (v && typeof v === 'object' && depth < 6) {
    for (const key of Object.keys(v)) {
      out.push([v as Record<string, unknown>, Array.isArray(v) ? Number(key) : key]);
      places((v as Record<string, unknown>)[key], out, depth + 1);
    }
  }
  return out;
}

/** A valid profile under a fresh name (built-in names cannot be saved). */
function validProfile(f: Fuzz, i: number): Record<string, unknown> {
  return { ...structuredClone(f.pick(VALID) as Record<string, unknown>), name: `fuzz-${i}` };
}

function mutate(f: Fuzz, doc: Record<string, unknown>): unknown {
  for (let m = 1 + f.int(2); m > 0; m--) {
    const all = places(doc);
    const [container, key] = all.length ? f.pick(all) : [doc, 'name'];
    const set = (value: unknown): void =>
      Array.isArray(container)
        ? void (container[key as number] = value)
        : setOwn(container, String(key), value);
    switch (f.int(8)) {
      case 0:
        if (Array.isArray(container)) container.splice(key as number, 1);
        else delete container[key as string];
        break;
      case 1:
        set(randomJson(f, 3));
        break;
      case 2:
        set('x'.repeat(f.pick([2001, 70_000, PROFILE_MAX_BYTES])));
        break;
      case 3:
        set(nest(f, randomJson(f, 1), f.pick([31, 33, 200, 3000])));
        break;
      case 4: {
        const target = (container as Record<string, unknown>)[key as string];
        const host = target && typeof target === 'object' && !Array.isArray(target) ? target : doc;
        setOwn(host as Record<string, unknown>, f.pick([...RESERVED]), { polluted: true });
        break;
      }
      case 5:
        set(f.pick([0, -1, 1.5, '', [], {}, null, true, '8', 1e9]));
        break;
      case 6:
        setOwn(doc, randomString(f) || 'extra', randomJson(f, 2));
        break;
      default:
        // The same value twice (a shared reference, still valid JSON).
        set((container as Record<string, unknown>)[key as string] ?? null);
    }
  }
  return doc;
}

/** JSON text for a case: valid JSON most of the time, sometimes damaged text. */
function asText(f: Fuzz, value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'undefined';
  } catch {
    text = '[]';
  }
  switch (f.int(30)) {
    case 0:
    case 1:
    case 2:
      return text.slice(0, f.int(text.length + 1));
    case 3:
    case 4: {
      const at = f.int(text.length + 1);
      return (
        text.slice(0, at) + f.pick(['{', '}', '"', ',', '\u0000', 'NaN', '\\']) + text.slice(at)
      );
    }
    case 5:
      return `${'['.repeat(120_000)}${']'.repeat(120_000)}`;
    case 6:
      return `{"name":"deep","methods":[{"id":"topk","params":{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}}]}`;
    default:
      return text;
  }
}

/** A refusal that says what is wrong: a profile error naming fields, or a named input error. */
function expectClearRefusal(e: unknown): void {
  expect(e).toBeInstanceOf(Error);
  const err = e as Error;
  expect(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']).not.toContain(err.name);
  expect(err.message).not.toMatch(
    /Maximum call stack|Cannot read prop|is not a function|\[object /,
  );
  if (err instanceof ProfileError) {
    expect(err.problems.length).toBeGreaterThan(0);
    for (const p of err.problems) expect(p).toMatch(/: \S/);
    return;
  }
  expect(err.message).toMatch(
    /^imported profile is (not valid JSON: |[\d.]+ KiB; a profile may be at most 256 KiB)|cannot be used as a file name|is the name of a built-in profile|already uses/,
  );
}

/** Walks an accepted profile: only plain data, no reserved keys, nothing deeper than the cap. */
function expectPlainData(v: unknown, depth = 1): void {
  expect(depth).toBeLessThanOrEqual(32);
  if (v === null || typeof v !== 'object') {
    expect(['string', 'number', 'boolean']).toContain(v === null ? 'boolean' : typeof v);
    return;
  }
  for (const key of Object.keys(v)) {
    expect(RESERVED.has(key), key).toBe(false);
    expectPlainData((v as Record<string, unknown>)[key], depth + 1);
  }
}

let home: string;
const prototypesBefore = [Object.prototype, Array.prototype, Function.prototype].map((p) =>
  Object.getOwnPropertyNames(p).sort(),
);

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'gradbench-fuzz-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
  // No input may have reached a prototype.
  expect(
    [Object.prototype, Array.prototype, Function.prototype].map((p) =>
      Object.getOwnPropertyNames(p).sort(),
    ),
  ).toEqual(prototypesBefore);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}

describe('profile import fuzz', () => {
  it('names the field for deep nesting, reserved keys, non-JSON values and oversized objects', async () => {
    const store = new ProfilesStore(home);
    const deep = `{"name":"deep","methods":[{"id":"topk","params":{"a":${'['.repeat(40)}${']'.repeat(40)}}}]}`;
    await expect(store.importJson(deep)).rejects.toThrow(
      /methods\.0\.params\.a\.0\.0\.[\d.]+: nested deeper than 32 levels; a profile may nest at most 32 levels/,
    );
    const proto = '{"name":"p","methods":[{"id":"topk","params":{"__proto__":{"ratio":0.5}}}]}';
    await expect(store.importJson(proto)).rejects.toThrow(
      /methods\.0\.params\.__proto__: "__proto__" is a reserved name and cannot be used as a key/,
    );
    expect(checkProfile({ name: 'n', train: { steps: NaN } })).toEqual({
      ok: false,
      issues: [{ path: 'train.steps', message: 'must be a finite number, got NaN' }],
    });
    const big = {
      name: 'big',
      methods: [{ id: 'topk', params: { a: 'x'.repeat(PROFILE_MAX_BYTES) } }],
    };
    expect(checkProfile(big)).toEqual({
      ok: false,
      issues: [
        {
          path: '(profile)',
          message: 'larger than 256 KiB as JSON; a profile may be at most 256 KiB',
        },
      ],
    });
    expect(await listing(home)).toEqual([]);
  });

  it('text import: accepted profiles round-trip through their file, refusals are clear and write nothing', async () => {
    const f = fuzz(1);
    const store = new ProfilesStore(home);
    let accepted = 0;
    let refused = 0;
    await forEachCase(1000, async (i, show) => {
      const value =
        i % 4 === 0
          ? randomJson(f, 4)
          : i % 4 === 1
            ? validProfile(f, i)
            : mutate(f, validProfile(f, i));
      const text = asText(f, value);
      show(text);
      let parsed: Profile | undefined;
      try {
        parsed = parseProfileText(text, 'imported profile');
      } catch (e) {
        expectClearRefusal(e);
      }
      if (parsed) accepted++;
      else refused++;
      // Every refusal goes through the store; accepted ones are written (and fsynced) in a sample.
      if (parsed && accepted % SAVE_EVERY !== 0) return;
      const before = await listing(home);
      let saved: Awaited<ReturnType<ProfilesStore['importJson']>> | undefined;
      try {
        saved = await store.importJson(text);
      } catch (e) {
        expect(parsed, 'the store refused what the parser accepted').toBeUndefined();
        expectClearRefusal(e);
        expect(await listing(home)).toEqual(before);
        return;
      }
      expect(parsed, 'the store accepted what the parser refused').toBeDefined();
      expectPlainData(saved.profile);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(PROFILE_MAX_BYTES);
      const written = await readFile(saved.file, 'utf8');
      expect(parseProfileText(written)).toEqual(saved.profile);
      expect(await store.get(saved.profile.name)).toEqual(saved.profile);
      await store.delete(saved.profile.name);
    });
    // Both outcomes must be exercised, or the generator has drifted.
    expect(accepted).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(500);
  }, 30_000);

  it('object path (IPC, bridge): random values and non-JSON values are refused by field, never thrown', async () => {
    const f = fuzz(2);
    const service = new ApiService({
      home,
      detect: async () => ({ node: { version: '20', v8: '11' }, missing: [] }),
    });
    /** Values only IPC's structured clone can deliver, by name (some are too big to print). */
    const exotic = (): [string, unknown] => {
      const cyclic: Record<string, unknown> = { name: 'cyclic' };
      cyclic.self = cyclic;
      const cases: [string, () => unknown][] = [
        ['cyclic object', () => cyclic],
        ['NaN steps', () => ({ name: 'nan', train: { steps: NaN } })],
        [
          'Infinity param',
          () => ({ name: 'inf', methods: [{ id: 'topk', params: { ratio: Infinity } }] }),
        ],
        [
          'Map in method params',
          () => ({ name: 'map', methods: [{ id: 'topk', params: { a: new Map([[1, 2]]) } }] }),
        ],
        ['Date description', () => ({ name: 'date', description: new Date(0) })],
        [
          'typed array params',
          () => ({ name: 'bytes', methods: [{ id: 'topk', params: new Uint8Array(4) }] }),
        ],
        ['BigInt steps', () => ({ name: 'big', train: { steps: 10n } })],
        ['inherited name', () => Object.create({ name: 'inherited' })],
        [
          'array of 10^6 holes in params',
          () => ({ name: 'holes', methods: [{ id: 'topk', params: { a: new Array(1e6) } }] }),
        ],
        ['a string', () => 'a string'],
        ['a number', () => 42],
        ['null', () => null],
      ];
      const [label, make] = f.pick(cases);
      return [label, make()];
    };
    let savedCount = 0;
    let validCount = 0;
    await forEachCase(1500, async (i, show) => {
      let value: unknown;
      if (i % 10 === 0) {
        const [label, v] = exotic();
        show(label);
        value = v;
      } else {
        value = i % 2 ? randomJson(f, 5) : mutate(f, validProfile(f, i));
        show(JSON.stringify(value) ?? String(value));
      }
      let valid: boolean | undefined;
      try {
        valid = ((await dispatch(service, 'validateProfile', [value])) as Validation).ok;
      } catch (e) {
        // Only a payload that is not an object at all is refused at the boundary.
        expect(e).toBeInstanceOf(ApiCallError);
        expect((e as Error).message).toMatch(/^validateProfile: argument 1/);
      }
      if (valid) validCount++;
      if (valid && validCount % SAVE_EVERY !== 0) return;
      const before = await listing(home);
      let r: Validation;
      try {
        r = (await dispatch(service, 'saveProfile', [value])) as Validation;
      } catch (e) {
        expect(valid).toBeUndefined();
        expect(e).toBeInstanceOf(ApiCallError);
        expect((e as Error).message).toMatch(/^saveProfile: argument 1/);
        return;
      }
      expect(r.ok).toBe(valid);
      if (!r.ok) {
        expect(r.issues.length).toBeGreaterThan(0);
        for (const issue of r.issues) {
          expect(typeof issue.path).toBe('string');
          expect(issue.message).toMatch(/\S/);
          expect(issue.message).not.toMatch(/Maximum call stack|Cannot read prop/);
        }
        expect(await listing(home)).toEqual(before);
        return;
      }
      expectPlainData(r.profile);
      expect(checkProfile(JSON.parse(JSON.stringify(r.profile))).ok).toBe(true);
      savedCount++;
      await service.deleteProfile(r.profile.name);
    });
    expect(savedCount).toBeGreaterThan(10);
  }, 30_000);
});
