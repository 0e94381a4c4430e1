/** Finished runs opened on the Results page: one or more, to compare. */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { RunView } from '../../../engine/app/api';
import { useApi } from '../api';
import { errorMessage } from './errors';

export const useResultsStore = defineStore('results', () => {
  const open = ref<RunView[]>([]);
  const error = ref<string>();
  const loading = ref(false);

  /** Opens a run (replacing the selection, or added to it to compare). */
  async function show(id: string, compare = false): Promise<void> {
    loading.value = true;
    // The page says it is loading rather than showing the last figures it had (another run, or
    // this one as it was while it ran).
    const before = open.value;
    if (!compare) open.value = [];
    try {
      const view = await useApi().getRun(id);
      const others = compare ? open.value.filter((r) => r.id !== id) : [];
      open.value = [...others, view];
      error.value = undefined;
    } catch (e) {
      open.value = before;
      error.value = errorMessage(e);
    } finally {
      loading.value = false;
    }
  }

  /** Reads an open run again (a live run's record grows), keeping its place. */
  async function refresh(id: string): Promise<void> {
    try {
      const view = await useApi().getRun(id);
      open.value = open.value.map((r) => (r.id === id ? view : r));
    } catch (e) {
      error.value = errorMessage(e);
    }
  }

  function close(id: string): void {
    open.value = open.value.filter((r) => r.id !== id);
  }

  async function exportCsv(
    id: string,
    kind: 'steps' | 'summary',
  ): Promise<{ filename: string; text: string }> {
    return useApi().exportCsv(id, kind);
  }

  return { open, error, loading, show, refresh, close, exportCsv };
});
