import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { BUILTIN_PROFILES, ProfileError } from '../../engine/run/profile.js';
import {
  PROFILE_MAX_BYTES,
  ProfilesStore,
  parseProfileText,
  profileSlug,
} from '../../engine/app/profiles-store.js';
import { tempDirs } from './helpers.js';

const newDir = tempDirs();
let home: string;
let store: ProfilesStore;

beforeEach(async () => {
  home = await newDir();
  store = new ProfilesStore(home);
});

const topk = {
  name: 'Top-k 1 pct',
  description: 'top-k at 1% density',
  methods: [{ id: 'topk', params: { ratio: 0.01 } }],
};

async function writeSaved(file: string, text: string): Promise<string> {
  await mkdir(path.join(home, 'profiles'), { recursive: true });
  const full = path.join(home, 'profiles', file);
  await writeFile(full, text);
  return full;
}

describe('ProfilesStore', () => {
  it('lists the built-in profiles, marked builtin, in an empty data directory', async () => {
    const list = await store.list();
    expect(list.map((e) => e.name)).toEqual(Object.keys(BUILTIN_PROFILES));
    expect(list.every((e) => e.builtin && e.profile && !e.error)).toBe(true);
  });

  it('saves, lists, gets and deletes a profile', async () => {
    const { file, profile } = await store.save(topk);
    expect(file).toBe(path.join(home, 'profiles', 'top-k-1-pct.json'));
    expect(profile.train.steps).toBe(20); // defaults filled in
    const onDisk = JSON.parse(await readFile(file, 'utf8'));
    expect(onDisk).toEqual(profile);

    const saved = (await store.list()).filter((e) => !e.builtin);
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ name: 'Top-k 1 pct', builtin: false, file });
    expect(await store.get('Top-k 1 pct')).toEqual(profile);
    expect((await store.get('default')).name).toBe('default');

    await store.delete('Top-k 1 pct');
    expect(await readdir(path.join(home, 'profiles'))).toEqual([]);
    await expect(store.get('Top-k 1 pct')).rejects.toThrow(/no profile named "Top-k 1 pct"/);
    await expect(store.delete('Top-k 1 pct')).rejects.toThrow(/no saved profile named/);
  });

  it('replaces a saved profile of the same name', async () => {
    await store.save(topk);
    await store.save({ ...topk, train: { steps: 99 } });
    expect((await store.get(topk.name)).train.steps).toBe(99);
    expect((await store.list()).filter((e) => !e.builtin)).toHaveLength(1);
  });

  it('refuses to save over or delete a built-in profile', async () => {
    await expect(store.save({ name: 'default' })).rejects.toThrow(/built-in profile/);
    await expect(store.save({ name: 'Default' })).rejects.toThrow(/built-in profile/);
    await expect(store.delete('default')).rejects.toThrow(/built-in profile and cannot be deleted/);
    expect((await store.get('default')).description).toBe(BUILTIN_PROFILES.default.description);
  });

  it('refuses a second name that maps to the same file', async () => {
    await store.save({ name: 'Foo' });
    await expect(store.save({ name: 'foo' })).rejects.toThrow(/saved profile "Foo" already uses/);
    expect((await store.get('Foo')).name).toBe('Foo');
  });

  it('rejects invalid profiles on save, listing every invalid field', async () => {
    const err = await store
      .save({ name: 'x', train: { steps: 0, lr: 5 }, backend: 'gpu' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProfileError);
    const fields = (err as ProfileError).problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(['train.steps', 'train.lr', 'backend']);
  });

  it('imports JSON text: saves a valid profile', async () => {
    const { profile } = await store.importJson(JSON.stringify(topk));
    expect(await store.get(topk.name)).toEqual(profile);
  });

  it('import enforces the 256 KiB cap with a clear error', async () => {
    const big = JSON.stringify({ ...topk, description: 'x'.repeat(PROFILE_MAX_BYTES) });
    await expect(store.importJson(big)).rejects.toThrow(/KiB; a profile may be at most 256 KiB/);
    expect((await store.list()).filter((e) => !e.builtin)).toEqual([]);
  });

  it('import reports JSON syntax errors', async () => {
    await expect(store.importJson('{"name": "a",')).rejects.toThrow(
      /imported profile is not valid JSON: /,
    );
  });

  it('import lists every invalid field, one line each', async () => {
    const text = JSON.stringify({
      name: '../escape',
      model: { layers: 0, dModel: 64, heads: 4, seqLen: 32 },
      train: { steps: -1 },
      parallel: { worldSize: 2, sharding: 'ZERO9' },
      network: { inter: 'carrier-pigeon' },
      surprise: true,
    });
    const err = (await store.importJson(text).catch((e: unknown) => e)) as ProfileError;
    expect(err).toBeInstanceOf(ProfileError);
    const fields = err.problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual([
      'name',
      'model.layers',
      'train.steps',
      'parallel.sharding',
      'network.inter',
      '(profile)',
    ]);
    for (const p of err.problems) expect(err.message).toContain(p);
    expect(err.message.split('\n').length).toBe(err.problems.length + 1);
  });

  it('exports JSON that imports back to the same profile', async () => {
    const { profile } = await store.save(topk);
    const text = await store.exportJson(topk.name);
    expect(JSON.parse(text)).toEqual(profile);
    expect(parseProfileText(text)).toEqual(profile);
    expect(JSON.parse(await store.exportJson('micro-1gbe')).parallel.worldSize).toBe(4);
  });

  it('lists a corrupt saved file with its error instead of throwing', async () => {
    const broken = await writeSaved('broken.json', '{ "name": "broken", ');
    const invalid = await writeSaved(
      'invalid.json',
      JSON.stringify({ name: 'invalid', train: { steps: 0 } }),
    );
    await store.save(topk);
    const list = await store.list();
    const byName = Object.fromEntries(list.map((e) => [e.name, e]));
    expect(byName.broken.error).toContain(broken);
    expect(byName.broken.error).toMatch(/not valid JSON/);
    expect(byName.broken.profile).toBeUndefined();
    expect(byName.invalid.error).toContain(invalid);
    expect(byName.invalid.error).toMatch(/train\.steps: /);
    expect(byName[topk.name].profile?.name).toBe(topk.name);
    await expect(store.get('broken')).rejects.toThrow(/broken\.json is corrupt/);
  });

  it('never replaces a corrupt file on save, but deletes it on request', async () => {
    const file = await writeSaved('broken.json', 'not json');
    await expect(store.save({ name: 'broken' })).rejects.toThrow(/fix or delete it first/);
    expect(await readFile(file, 'utf8')).toBe('not json');
    await store.delete('broken');
    await store.save({ name: 'broken' });
    expect((await store.get('broken')).name).toBe('broken');
  });

  it('finds a profile copied in by hand under another file name', async () => {
    await writeSaved('copied.json', JSON.stringify({ name: 'Hand made' }));
    expect((await store.get('Hand made')).name).toBe('Hand made');
    await store.delete('Hand made');
    expect(await readdir(path.join(home, 'profiles'))).toEqual([]);
  });

  it('maps names to safe file names that stay inside the profiles directory', () => {
    expect(profileSlug('My Profile.v2')).toBe('my-profile.v2');
    expect(profileSlug('  a  b  ')).toBe('a-b');
    expect(() => profileSlug('..')).toThrow(/cannot be used as a file name/);
    expect(() => profileSlug('nul')).toThrow(/cannot be used as a file name/);
    for (const evil of ['../../etc/passwd', '..\\..\\x', '/abs/path', 'a/../../b']) {
      expect(path.dirname(store.fileFor(evil))).toBe(path.join(home, 'profiles'));
    }
  });
});
