/**
 * The API the app talks to: `window.gradbench` inside Electron (preload over IPC), else the
 * `gradbench serve` bridge, whose session token arrives once in the URL (`?token=`) and is kept
 * for the tab's lifetime so reloads keep working without showing it in the address bar.
 */
import type { GradBenchApi } from '../../../engine/app/api';
import { bridgeApi } from './bridge-client';

const TOKEN_KEY = 'gradbench.token';

let current: GradBenchApi | undefined;

/** Takes the token from the URL (then removes it from the address bar) or from session storage. */
export function sessionToken(
  loc: Location = window.location,
  store: Storage = sessionStorage,
): string {
  const url = new URL(loc.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    store.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return store.getItem(TOKEN_KEY) ?? '';
}

export function useApi(): GradBenchApi {
  current ??=
    window.gradbench ??
    bridgeApi({ baseUrl: new URL('/', window.location.href).toString(), token: sessionToken() });
  return current;
}

/** For tests: use this API instead. */
export function setApi(api: GradBenchApi): void {
  current = api;
}
