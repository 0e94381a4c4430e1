/**
 * A method's name as the run designer shows it: the catalog's label for a bare method id, so a
 * run's tables and charts say "int8 blockwise" and "TAGC", not `int8` and `tagc`. A repeat's
 * suffix (`tagc #2`, `topk-2`) and a combination (`tagc+int8`) keep their shape; a name the
 * profile gave itself, or an id the catalog does not know, reads as it is.
 */
import { computed } from 'vue';
import { useCatalogStore } from './stores/catalog';
import { BASELINE_KEY } from './method-colors';

export function readableLabel(text: string, labelOf: (id: string) => string | undefined): string {
  if (text === BASELINE_KEY) return 'FSDP (fp32)';
  const original = text.split('+').map((part) => part.trim());
  const parts = original.map((part) => {
    const [, id, suffix = ''] = /^(.+?)(\s*#\d+|-\d+)?$/.exec(part) ?? [];
    const label = id === undefined ? undefined : labelOf(id);
    if (!label) return part;
    // `topk-2` reads as `top-k #2`, like `tagc #2`.
    return `${label}${suffix.startsWith('-') ? ` #${suffix.slice(1)}` : suffix}`;
  });
  return parts.some((p, i) => p !== original[i]) ? parts.join(' + ') : text;
}

/** `labelOf(text)` for the pages, following the catalog once it has loaded. */
export function useMethodLabels() {
  const catalog = useCatalogStore();
  void catalog.load();
  return computed(() => (text: string) => readableLabel(text, (id) => catalog.method(id)?.label));
}
