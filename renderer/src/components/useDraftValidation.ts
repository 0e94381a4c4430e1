/**
 * Validates a profile draft against the engine as it is edited (debounced), giving the issues by
 * field path for inline messages.
 */
import { ref, watch, type Ref } from 'vue';
import type { FieldIssue, ProfileDoc } from '../../../engine/app/api';
import { issuesByPath, useProfilesStore } from '../stores/profiles';

export function useDraftValidation(draft: Ref<ProfileDoc | undefined>, delayMs = 200) {
  const profiles = useProfilesStore();
  const issues = ref<Record<string, string[]>>({});
  const checked = ref(false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;

  async function validateNow(): Promise<FieldIssue[]> {
    clearTimeout(timer);
    const mine = ++seq;
    if (!draft.value) return [];
    const list = await profiles.validate(JSON.parse(JSON.stringify(draft.value)));
    if (mine === seq) {
      issues.value = issuesByPath(list);
      checked.value = true;
    }
    return list;
  }

  function show(list: FieldIssue[]): void {
    issues.value = issuesByPath(list);
  }

  watch(
    draft,
    () => {
      clearTimeout(timer);
      timer = setTimeout(() => void validateNow(), delayMs);
    },
    { deep: true },
  );

  return { issues, checked, validateNow, show };
}
