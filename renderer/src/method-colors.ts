/**
 * One colour per method key, the same in every chart, page and PNG export. A method's colour comes
 * from its id's place in the engine's method registry (the catalog), so it does not depend on which
 * other methods a run has; a repeated id (`topk-2`) takes the next colour after its first. The
 * fp32 FSDP baseline is always the dark ink, drawn dashed and wider on top of the others, so a
 * method that tracks it (fp16 does, step for step) never hides it.
 */
import { computed } from 'vue';
import { useCatalogStore } from './stores/catalog';

export const BASELINE_KEY = 'fsdp';
export const BASELINE_COLOR = '#1c2230';

/** Distinguishable on white and for the common colour-vision deficiencies (Tableau 10, grey left out). */
export const METHOD_PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#b07aa1',
  '#76b7b2',
  '#edc948',
  '#9c755f',
  '#ff9da7',
  '#2f6f4f',
  '#8cd17d',
  '#a0cbe8',
];

/** `topk-2` -> ['topk', 1]; `fsdp` -> ['fsdp', 0]. */
function splitKey(key: string): [string, number] {
  const m = /^(.*)-(\d+)$/.exec(key);
  return m ? [m[1], Number(m[2]) - 1] : [key, 0];
}

/** Stable index for an id that is not in the registry order (a method from a newer engine). */
function hashIndex(id: string): number {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

/** The colour of a method key, given the registry's method ids in order. */
export function methodColor(key: string, registryIds: readonly string[]): string {
  if (key === BASELINE_KEY) return BASELINE_COLOR;
  const [id, repeat] = splitKey(key);
  const at = registryIds.indexOf(id);
  const index = (at >= 0 ? at : hashIndex(id)) + repeat;
  return METHOD_PALETTE[index % METHOD_PALETTE.length];
}

/** `colorOf(key)` for the pages, following the catalog once it has loaded. */
export function useMethodColors() {
  const catalog = useCatalogStore();
  void catalog.load();
  const ids = computed(() => catalog.catalog?.methods.map((m) => m.id) ?? []);
  return computed(() => (key: string) => methodColor(key, ids.value));
}
