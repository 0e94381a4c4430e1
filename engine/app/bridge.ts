/**
 * `gradbench serve`: the renderer and `GradBenchApi` over HTTP + WebSocket, for a browser on the
 * same machine. Local only and guarded like a desktop app's IPC: binds 127.0.0.1, every API
 * request and the event socket need the per-session token (handed out in the printed URL), and
 * requests from another origin or for another host name (DNS rebinding) are refused.
 *
 *   GET  /...             the built renderer (out/renderer)
 *   POST /api/call        {call, args} -> {ok: true, result} | {ok: false, error}
 *   GET  /api/events      WebSocket (token in ?token=): one JSON ApiEvent per message
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiCallError, dispatch } from './api-dispatch.js';
import type { ApiService } from './api-service.js';

export const TOKEN_HEADER = 'x-gradbench-token';
const MAX_BODY_BYTES = 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

export interface BridgeOptions {
  service: ApiService;
  /** Directory of the built renderer; without it only the API is served. */
  staticDir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  token?: string;
}

export interface Bridge {
  url: string;
  /** The URL with the token, to open in a browser. */
  openUrl: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

function sameToken(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiCallError(`request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startBridge(opts: BridgeOptions): Promise<Bridge> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  let port = opts.port ?? 0;
  const allowedHosts = (): string[] => [`${HOST}:${port}`, `localhost:${port}`];
  const allowedOrigins = (): string[] => allowedHosts().map((h) => `http://${h}`);

  /** Why a request may not be served, or undefined when it may. */
  const refuse = (req: IncomingMessage): string | undefined => {
    if (!allowedHosts().includes(req.headers.host ?? ''))
      return `host "${req.headers.host ?? ''}" is not this server`;
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().includes(origin))
      return `origin ${origin} is not allowed`;
    return undefined;
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!opts.staticDir) return send(res, 404, { ok: false, error: 'no renderer is served' });
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const rel = urlPath === '/' ? 'index.html' : urlPath.replace(/^\/+/, '');
    const root = path.resolve(opts.staticDir);
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep)) return send(res, 403, { ok: false, error: 'forbidden' });
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) return send(res, 404, { ok: false, error: `${urlPath} not found` });
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    createReadStream(file).pipe(res);
  };

  const serveCall = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!sameToken(req.headers[TOKEN_HEADER] as string | undefined, token))
      return send(res, 401, { ok: false, error: 'missing or wrong session token' });
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      return send(res, 415, { ok: false, error: 'send the call as application/json' });
    let body: { call?: unknown; args?: unknown };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch (e) {
      const msg = e instanceof ApiCallError ? e.message : 'the request body is not valid JSON';
      return send(res, 400, { ok: false, error: msg });
    }
    try {
      const result = await dispatch(opts.service, body?.call, body?.args ?? []);
      send(res, 200, { ok: true, result: result ?? null });
    } catch (e) {
      send(res, e instanceof ApiCallError ? 400 : 422, { ok: false, error: (e as Error).message });
    }
  };

  const server = createServer((req, res) => {
    const why = refuse(req);
    if (why) return send(res, 403, { ok: false, error: why });
    const { pathname } = new URL(req.url ?? '/', 'http://x');
    const handle =
      pathname === '/api/call'
        ? req.method === 'POST'
          ? serveCall(req, res)
          : Promise.resolve(send(res, 405, { ok: false, error: 'use POST' }))
        : req.method === 'GET' || req.method === 'HEAD'
          ? serveStatic(req, res)
          : Promise.resolve(send(res, 405, { ok: false, error: 'method not allowed' }));
    handle.catch((e: Error) => {
      if (!res.headersSent) send(res, 500, { ok: false, error: e.message });
      else res.destroy();
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const sockets = new Set<WebSocket>();
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const why =
      refuse(req) ??
      (url.pathname !== '/api/events'
        ? 'no such socket'
        : !sameToken(url.searchParams.get('token'), token)
          ? 'missing or wrong session token'
          : undefined);
    if (why) {
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\n${why}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => ws.terminate());
      // The socket only pushes events; anything a client sends is ignored.
    });
  });
  const unsubscribe = opts.service.onEvent((e) => {
    const text = JSON.stringify(e);
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as { port: number }).port;
  const url = `http://${HOST}:${port}/`;
  return {
    url,
    openUrl: `${url}?token=${encodeURIComponent(token)}`,
    port,
    token,
    close: async () => {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
