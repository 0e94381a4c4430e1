/**
 * Validates a profile draft against the engine as it is edited (debounced), giving the issues by
 * field path for inline messages. A problem the draft had when it was opened shows only once its
 * field has been touched (left after editing, or changed) or a save or start was tried, so a
 * brand-new form is not covered in red. A problem an edit causes shows at once, on whichever field
 * it concerns: world size 3 with 2 nodes marks Nodes, choosing the PyTorch engine marks Sharding
 * and Emulate links. A message goes as soon as the field is valid, since every edit re-validates.
 */
import { computed, ref, watch, type InjectionKey, type Ref } from 'vue';
import type { FieldIssue, ProfileDoc } from '../../../engine/app/api';
import { issuesByPath, useProfilesStore } from '../stores/profiles';

/** How a form field reports that the person has been in it (provided by ProfileForm). */
export const TOUCH_FIELD: InjectionKey<(path: string) => void> = Symbol('touch-field');

export function useDraftValidation(draft: Ref<ProfileDoc | undefined>, delayMs = 200) {
  const profiles = useProfilesStore();
  const issues = ref<Record<string, string[]>>({});
  const checked = ref(false);
  const touched = ref(new Set<string>());
  /** A save or start was tried: every message shows. */
  const revealed = ref(false);
  /**
   * Paths with a problem in the draft as it was opened (shown only once touched); until that check
   * answers, every problem counts as one of them.
   */
  const opened = ref<Set<string>>();
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
    revealed.value = true;
  }

  /** A path's issues show once it, or a field below it (`methods.0.params.ratio` for `methods`), was touched. */
  const visible = computed(() => {
    if (revealed.value) return issues.value;
    const seen = [...touched.value];
    return Object.fromEntries(
      Object.entries(issues.value).filter(
        ([p]) =>
          (opened.value && !opened.value.has(p)) ||
          seen.some((t) => t === p || t.startsWith(`${p}.`)),
      ),
    );
  });
  /** Fields with a message shown (a field may have several; it counts once). */
  const visibleCount = computed(() => Object.keys(visible.value).length);

  function touch(path: string): void {
    if (!touched.value.has(path)) touched.value = new Set([...touched.value, path]);
  }

  /** Shows every message (a save or start was tried) after checking the draft as it is now. */
  async function revealAll(): Promise<FieldIssue[]> {
    revealed.value = true;
    return validateNow();
  }

  // Another draft (a profile selected, a new one): nothing of it touched yet.
  watch(draft, (d) => {
    touched.value = new Set();
    revealed.value = false;
    opened.value = undefined;
    if (!d) return;
    // The draft as opened, checked now: edits typed before the debounced check must not count.
    void profiles.validate(JSON.parse(JSON.stringify(d))).then((list) => {
      if (draft.value === d) opened.value = new Set(list.map((i) => i.path));
    });
  });
  watch(
    draft,
    () => {
      clearTimeout(timer);
      timer = setTimeout(() => void validateNow(), delayMs);
    },
    { deep: true },
  );

  return { issues, visible, visibleCount, revealed, checked, validateNow, revealAll, show, touch };
}
