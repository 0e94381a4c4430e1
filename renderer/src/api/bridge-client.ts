/**
 * `GradBenchApi` over the `gradbench serve` bridge: calls are POSTs with the session token, events
 * arrive on one WebSocket that reconnects with back-off while anyone listens. After a reconnect a
 * `runs-changed` event is synthesised, because events sent while the socket was down are lost and
 * listeners must refetch.
 */
import { makeApi, type ApiEvent, type GradBenchApi } from '../../../engine/app/api';

export const TOKEN_HEADER = 'x-gradbench-token';

type WebSocketLike = {
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onopen: (() => void) | null;
  onerror: (() => void) | null;
  close(): void;
};

export interface BridgeClientOptions {
  /** e.g. `http://127.0.0.1:5173/` */
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  WebSocket?: new (url: string) => WebSocketLike;
  /** First reconnect delay; doubles up to 5 s. */
  reconnectMs?: number;
}

export class BridgeError extends Error {
  override name = 'BridgeError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export function bridgeApi(opts: BridgeClientOptions): GradBenchApi & { close(): void } {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const WS =
    opts.WebSocket ?? (globalThis.WebSocket as unknown as BridgeClientOptions['WebSocket']);
  const base = new URL(opts.baseUrl);
  const listeners = new Set<(e: ApiEvent) => void>();
  let socket: WebSocketLike | undefined;
  let retryMs = opts.reconnectMs ?? 250;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const call = async (name: string, args: unknown[]): Promise<unknown> => {
    let res: Response;
    try {
      res = await doFetch(new URL('api/call', base), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TOKEN_HEADER]: opts.token },
        body: JSON.stringify({ call: name, args }),
      });
    } catch (e) {
      throw new BridgeError(`GradBench server unreachable: ${(e as Error).message}`, 0);
    }
    let body: { ok?: boolean; result?: unknown; error?: string };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new BridgeError(
        `${name}: the server answered HTTP ${res.status} without JSON`,
        res.status,
      );
    }
    if (!res.ok || !body.ok)
      throw new BridgeError(body.error ?? `${name}: HTTP ${res.status}`, res.status);
    return body.result ?? undefined;
  };

  const deliver = (e: ApiEvent): void => {
    for (const l of listeners) l(e);
  };

  const connect = (reconnected: boolean): void => {
    if (closed || !WS || listeners.size === 0) return;
    const url = new URL('api/events', base);
    url.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', opts.token);
    const ws = new WS(url.toString());
    socket = ws;
    ws.onopen = () => {
      retryMs = opts.reconnectMs ?? 250;
      if (reconnected) deliver({ type: 'runs-changed' });
    };
    ws.onmessage = (m) => {
      try {
        deliver(JSON.parse(String(m.data)) as ApiEvent);
      } catch {
        /* not an event: ignore */
      }
    };
    ws.onerror = () => undefined;
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = undefined;
      if (closed || listeners.size === 0) return;
      retryTimer = setTimeout(() => connect(true), retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };

  const subscribe = (listener: (e: ApiEvent) => void): (() => void) => {
    listeners.add(listener);
    if (!socket && !retryTimer) connect(false);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
        const s = socket;
        socket = undefined;
        s?.close();
      }
    };
  };

  const api = makeApi(call as never, subscribe);
  return Object.assign(api, {
    close: () => {
      closed = true;
      clearTimeout(retryTimer);
      socket?.close();
      socket = undefined;
      listeners.clear();
    },
  });
}
