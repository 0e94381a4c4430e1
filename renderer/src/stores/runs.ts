/**
 * Runs: the live ones started by this app (kept current by events) and the history on disk.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { ApiEvent, LiveRun, RunListEntry, StartRunRequest } from '../../../engine/app/api';
import { useApi } from '../api';
import { errorMessage } from './errors';

export const useRunsStore = defineStore('runs', () => {
  const live = ref<Record<string, LiveRun>>({});
  const history = ref<RunListEntry[]>([]);
  const error = ref<string>();
  let unsubscribe: (() => void) | undefined;

  const liveList = computed(() =>
    Object.values(live.value).sort((a, b) => b.startedAt.localeCompare(a.startedAt)),
  );
  const running = computed(() => liveList.value.filter((r) => r.status === 'running'));

  function onEvent(e: ApiEvent): void {
    if (e.type === 'run') live.value = { ...live.value, [e.run.id]: e.run };
    else if (e.type === 'runs-changed') void refresh();
  }

  /** Starts listening to events (once) and loads live runs and history. */
  async function init(): Promise<void> {
    unsubscribe ??= useApi().onEvent(onEvent);
    await refresh();
  }

  async function refresh(): Promise<void> {
    try {
      const api = useApi();
      const [runs, list] = await Promise.all([api.liveRuns(), api.listRuns()]);
      live.value = Object.fromEntries(runs.map((r) => [r.id, r]));
      history.value = list;
      error.value = undefined;
    } catch (e) {
      error.value = errorMessage(e);
    }
  }

  async function start(request: StartRunRequest): Promise<LiveRun> {
    const run = await useApi().startRun(request);
    live.value = { ...live.value, [run.id]: run };
    return run;
  }

  async function cancel(id: string): Promise<void> {
    await useApi().cancelRun(id);
  }

  async function remove(id: string): Promise<void> {
    await useApi().deleteRun(id);
    const { [id]: _gone, ...rest } = live.value;
    live.value = rest;
    history.value = history.value.filter((r) => r.id !== id);
  }

  function stop(): void {
    unsubscribe?.();
    unsubscribe = undefined;
  }

  return {
    live,
    liveList,
    running,
    history,
    error,
    init,
    refresh,
    start,
    cancel,
    remove,
    stop,
    onEvent,
  };
});
