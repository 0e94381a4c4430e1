/** A message for any thrown value, for the banner a store shows. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
