/**
 * Saved benchmark profiles: `<home>/profiles/<slug>.json`, validated on every read, written
 * atomically. Built-in profiles are listed alongside and cannot be overwritten or deleted.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  BUILTIN_PROFILES,
  PROFILE_MAX_BYTES,
  ProfileSchema,
  parseProfile,
  type Profile,
} from '../run/profile.js';
import { FileProblem, readJsonFile, writeFileAtomic } from '../util/atomic-file.js';
import { ensureHome, profilesDir } from '../util/home.js';
import { readTextFile } from '../util/text-file.js';

export { PROFILE_MAX_BYTES };

export interface ProfileEntry {
  name: string;
  builtin: boolean;
  description?: string;
  /** The validated profile; absent when the saved file is damaged. */
  profile?: Profile;
  /** Saved profiles only. */
  file?: string;
  /** Why a saved file could not be used. */
  error?: string;
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)$/;

/** The file name stem for a profile name: lower case, [a-z0-9._-], no leading or trailing dot. */
export function profileSlug(name: string): string {
  const slug = name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/[.-]+$/, '');
  if (!slug || WINDOWS_RESERVED.test(slug.split('.')[0])) {
    throw new Error(`profile name "${name}" cannot be used as a file name; choose another name`);
  }
  return slug;
}

const isBuiltinName = (name: string): boolean =>
  Object.keys(BUILTIN_PROFILES).some((b) => b.toLowerCase() === name.trim().toLowerCase());

/** Throws when `bytes` is over the profile size cap, naming `source`. */
export function checkProfileSize(bytes: number, source: string): void {
  if (bytes > PROFILE_MAX_BYTES) {
    throw new Error(
      `${source} is ${(bytes / 1024).toFixed(1)} KiB; a profile may be at most ${PROFILE_MAX_BYTES / 1024} KiB`,
    );
  }
}

/**
 * Parses profile JSON text from outside (an import, a file to validate): size cap, JSON syntax,
 * then the schema. Invalid fields come back together in ProfileError.problems.
 */
export function parseProfileText(text: string, source = 'profile'): Profile {
  checkProfileSize(Buffer.byteLength(text, 'utf8'), source);
  let value: unknown;
  try {
    // A byte-order mark (kept by some editors) is not JSON, and invisible in an error message.
    value = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (e) {
    throw new Error(`${source} is not valid JSON: ${(e as Error).message}`);
  }
  return parseProfile(value, source);
}

/** Reads and validates a profile file: a regular UTF-8 file of at most 256 KiB, checked before reading. */
export async function readProfileFile(file: string): Promise<Profile> {
  return parseProfileText(await readTextFile(file, `profile ${file}`, PROFILE_MAX_BYTES), file);
}

export class ProfilesStore {
  readonly dir: string;

  constructor(readonly home: string) {
    this.dir = profilesDir(home);
  }

  /** Path of the file that holds (or would hold) the profile `name`. */
  fileFor(name: string): string {
    const file = path.join(this.dir, `${profileSlug(name)}.json`);
    if (path.dirname(file) !== this.dir) throw new Error(`profile name "${name}" is not allowed`);
    return file;
  }

  /** Built-in profiles first, then the saved ones by name; damaged files carry `error`. */
  async list(): Promise<ProfileEntry[]> {
    const builtins = Object.entries(BUILTIN_PROFILES).map(([name, input]): ProfileEntry => {
      const profile = parseProfile(input, `built-in profile ${name}`);
      return { name, builtin: true, description: profile.description, profile };
    });
    const saved = await Promise.all((await this.savedFiles()).map((f) => this.readEntry(f)));
    saved.sort((a, b) => a.name.localeCompare(b.name));
    return [...builtins, ...saved];
  }

  /** A profile by name: a saved one first, then a built-in one. */
  async get(name: string): Promise<Profile> {
    const saved = await this.findSaved(name);
    if (saved?.error) throw new Error(saved.error);
    if (saved?.profile) return saved.profile;
    if (this.isBuiltin(name))
      return parseProfile(BUILTIN_PROFILES[name], `built-in profile ${name}`);
    const names = (await this.list()).map((e) => e.name);
    throw new Error(`no profile named "${name}"; known profiles: ${names.join(', ')}`);
  }

  /** True for the names of built-in profiles. */
  isBuiltin(name: string): boolean {
    return Object.hasOwn(BUILTIN_PROFILES, name);
  }

  /** Validates and saves (replacing a saved profile of the same name); returns what was written. */
  async save(input: unknown): Promise<{ profile: Profile; file: string }> {
    const profile = parseProfile(input, 'profile');
    if (isBuiltinName(profile.name)) {
      throw new Error(
        `"${profile.name}" is the name of a built-in profile; save it under another name`,
      );
    }
    const file = this.fileFor(profile.name);
    if ((await this.savedFiles()).includes(file)) {
      const existing = await this.readEntry(file);
      if (existing.error) {
        throw new Error(`${existing.error}\nnot replacing it; fix or delete it first`);
      }
      if (existing.name !== profile.name) {
        throw new Error(
          `saved profile "${existing.name}" already uses ${file}; choose another name`,
        );
      }
    }
    await ensureHome(this.home);
    await writeFileAtomic(file, `${JSON.stringify(profile, null, 2)}\n`);
    return { profile, file };
  }

  /** Deletes a saved profile (also a damaged one); built-in profiles cannot be deleted. */
  async delete(name: string): Promise<string> {
    if (this.isBuiltin(name)) {
      throw new Error(`"${name}" is a built-in profile and cannot be deleted`);
    }
    const entry = await this.findSaved(name);
    if (!entry?.file) throw new Error(`no saved profile named "${name}"`);
    await rm(entry.file);
    return entry.file;
  }

  /** Imports profile JSON (at most 256 KiB), validates it and saves it. */
  async importJson(text: string): Promise<{ profile: Profile; file: string }> {
    return this.save(parseProfileText(text, 'imported profile'));
  }

  /** The profile as pretty-printed JSON, ready to share or to edit and import. */
  async exportJson(name: string): Promise<string> {
    return `${JSON.stringify(await this.get(name), null, 2)}\n`;
  }

  private async savedFiles(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .sort()
      .map((n) => path.join(this.dir, n));
  }

  private async readEntry(file: string): Promise<ProfileEntry> {
    try {
      const profile = await readJsonFile(file, ProfileSchema, 'profile', PROFILE_MAX_BYTES);
      return {
        name: profile.name,
        builtin: false,
        description: profile.description,
        profile,
        file,
      };
    } catch (e) {
      if (!(e instanceof FileProblem)) throw e;
      return { name: path.basename(file, '.json'), builtin: false, file, error: e.message };
    }
  }

  /**
   * The saved entry for `name`: its own file when that holds this name (or is damaged), else
   * any saved file whose profile carries the name (a file copied in by hand).
   */
  private async findSaved(name: string): Promise<ProfileEntry | undefined> {
    let own: string | undefined;
    try {
      own = this.fileFor(name);
    } catch {
      own = undefined;
    }
    const files = await this.savedFiles();
    if (own && files.includes(own)) {
      const entry = await this.readEntry(own);
      if (entry.error || entry.name === name) return entry;
    }
    for (const file of files) {
      if (file === own) continue;
      const entry = await this.readEntry(file);
      if (entry.profile?.name === name) return entry;
    }
    return undefined;
  }
}
