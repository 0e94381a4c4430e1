/**
 * Page navigation in the URL hash (`#/results/<run id>`), so a reload stays on the same page and
 * the same run. No router dependency: six pages and one optional argument each.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';

export const PAGES = ['hardware', 'profiles', 'run', 'live', 'results', 'history'] as const;
export type Page = (typeof PAGES)[number];

export function parseHash(hash: string): { page: Page; arg?: string } {
  const [page, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  return (PAGES as readonly string[]).includes(page)
    ? { page: page as Page, ...(arg ? { arg } : {}) }
    : { page: 'hardware' };
}

export const useNavStore = defineStore('nav', () => {
  const initial = parseHash(typeof window === 'undefined' ? '' : window.location.hash);
  const page = ref<Page>(initial.page);
  const arg = ref<string | undefined>(initial.arg);

  function go(to: Page, to_arg?: string): void {
    page.value = to;
    arg.value = to_arg;
    const hash = `#/${to}${to_arg ? `/${encodeURIComponent(to_arg)}` : ''}`;
    if (typeof window !== 'undefined' && window.location.hash !== hash)
      window.history.pushState(null, '', hash);
  }

  function syncFromLocation(): void {
    const p = parseHash(window.location.hash);
    page.value = p.page;
    arg.value = p.arg;
  }

  return { page, arg, go, syncFromLocation };
});
