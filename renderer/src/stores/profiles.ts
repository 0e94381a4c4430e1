/**
 * Saved and built-in profiles, and the editing of one: drafts are validated by the engine (the
 * one source of truth for the schema) and invalid fields come back by dotted path for the form.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { FieldIssue, ProfileDoc, ProfileListEntry } from '../../../engine/app/api';
import { useApi } from '../api';
import { errorMessage } from './errors';

/** Issues by field path; a path also collects the issues of the fields below it. */
export function issuesByPath(issues: FieldIssue[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const i of issues) (out[i.path] ??= []).push(i.message);
  return out;
}

/** A name not used yet: `base`, `base copy`, `base copy 2`, ... */
export function freeName(base: string, taken: string[]): string {
  const stem = base.replace(/ copy( \d+)?$/, '');
  for (let i = 1; ; i++) {
    const name = i === 1 ? `${stem} copy` : `${stem} copy ${i}`;
    if (!taken.includes(name)) return name;
  }
}

export const useProfilesStore = defineStore('profiles', () => {
  const entries = ref<ProfileListEntry[]>([]);
  const loading = ref(false);
  const error = ref<string>();
  const names = computed(() => entries.value.map((e) => e.name));

  async function load(): Promise<void> {
    loading.value = true;
    try {
      entries.value = await useApi().listProfiles();
      error.value = undefined;
    } catch (e) {
      error.value = errorMessage(e);
    } finally {
      loading.value = false;
    }
  }

  function find(name: string): ProfileListEntry | undefined {
    return entries.value.find((e) => e.name === name);
  }

  async function validate(draft: unknown): Promise<FieldIssue[]> {
    const r = await useApi().validateProfile(draft);
    return r.ok ? [] : r.issues;
  }

  /** Saves a draft; returns the issues that stopped it (none when saved). */
  async function save(draft: unknown): Promise<FieldIssue[]> {
    const r = await useApi().saveProfile(draft);
    if (!r.ok) return r.issues;
    await load();
    return [];
  }

  async function remove(name: string): Promise<void> {
    await useApi().deleteProfile(name);
    await load();
  }

  /** A copy of a profile under a free name, ready to edit. */
  function duplicate(profile: ProfileDoc): ProfileDoc {
    return {
      ...(JSON.parse(JSON.stringify(profile)) as ProfileDoc),
      name: freeName(profile.name, names.value),
    };
  }

  return { entries, loading, error, names, load, find, validate, save, remove, duplicate };
});
