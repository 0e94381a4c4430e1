import { defineStore } from 'pinia';
import { ref } from 'vue';
import type { HardwareInfo } from '../../../engine/app/api';
import { useApi } from '../api';
import { errorMessage } from './errors';

export const useHardwareStore = defineStore('hardware', () => {
  const info = ref<HardwareInfo>();
  const loading = ref(false);
  const error = ref<string>();

  async function load(rescan = false): Promise<void> {
    loading.value = true;
    error.value = undefined;
    try {
      info.value = await useApi().hardware(rescan);
    } catch (e) {
      error.value = errorMessage(e);
    } finally {
      loading.value = false;
    }
  }

  return { info, loading, error, load };
});
