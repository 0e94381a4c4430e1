import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { Catalog, MethodCatalogEntry } from '../../../engine/app/api';
import { useApi } from '../api';
import { errorMessage } from './errors';

export const useCatalogStore = defineStore('catalog', () => {
  const catalog = ref<Catalog>();
  const error = ref<string>();
  let pending: Promise<void> | undefined;

  /** Loads once; later calls share the first load. */
  function load(): Promise<void> {
    pending ??= useApi()
      .catalog()
      .then((c) => {
        catalog.value = c;
      })
      .catch((e: unknown) => {
        error.value = errorMessage(e);
        pending = undefined;
      });
    return pending;
  }

  function method(id: string): MethodCatalogEntry | undefined {
    return catalog.value?.methods.find((m) => m.id === id);
  }

  return { catalog, error, load, method };
});
