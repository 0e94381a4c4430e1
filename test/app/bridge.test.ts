import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvent } from '../../engine/app/api.js';
import { ApiService } from '../../engine/app/api-service.js';
import { startBridge, TOKEN_HEADER, type Bridge } from '../../engine/app/bridge.js';
import { bridgeApi, BridgeError } from '../../renderer/src/api/bridge-client.js';
import { rawRequest, tempDirs } from './helpers.js';

const newDir = tempDirs();
let bridge: Bridge;
let staticDir: string;

beforeEach(async () => {
  const home = await newDir();
  staticDir = path.join(await newDir(), 'renderer');
  await mkdir(path.join(staticDir, 'assets'), { recursive: true });
  await writeFile(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
  await writeFile(path.join(staticDir, 'assets', 'a.js'), 'export {}');
  await writeFile(path.join(path.dirname(staticDir), 'secret.txt'), 'secret');
  const service = new ApiService({
    home,
    detect: async () => ({ node: { version: '20', v8: '11' }, missing: [] }),
  });
  bridge = await startBridge({ service, staticDir });
});
afterEach(async () => bridge.close());

const raw = (
  method: string,
  urlPath: string,
  headers: Record<string, string> = {},
  body?: string,
) => rawRequest(bridge.port, method, urlPath, headers, body);

const client = () =>
  bridgeApi({
    baseUrl: bridge.url,
    token: bridge.token,
    WebSocket: WebSocket as never,
    reconnectMs: 50,
  });

describe('gradbench serve bridge', () => {
  it('binds 127.0.0.1 and serves the renderer, never files outside it', async () => {
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(bridge.openUrl).toContain(`token=${bridge.token}`);
    const index = await raw('GET', '/');
    expect(index.status).toBe(200);
    expect(index.type).toMatch(/text\/html/);
    expect((await raw('GET', '/assets/a.js')).type).toMatch(/javascript/);
    const up = await raw('GET', '/../secret.txt');
    expect(up.status).toBe(404);
    expect(up.text).not.toBe('secret');
    expect((await raw('GET', '/assets/..%2f..%2fsecret.txt')).status).toBe(403);
    expect((await raw('GET', '/missing.js')).status).toBe(404);
  });

  it('answers API calls only with the session token, from its own origin and host name', async () => {
    const call = JSON.stringify({ call: 'version', args: [] });
    const json = { 'content-type': 'application/json' };
    const ok = await raw('POST', '/api/call', { ...json, [TOKEN_HEADER]: bridge.token }, call);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ ok: true, result: { name: 'gradbench' } });
    expect((await raw('POST', '/api/call', json, call)).status).toBe(401);
    expect(
      (await raw('POST', '/api/call', { ...json, [TOKEN_HEADER]: 'x'.repeat(32) }, call)).status,
    ).toBe(401);
    const foreign = await raw(
      'POST',
      '/api/call',
      { ...json, [TOKEN_HEADER]: bridge.token, origin: 'https://evil.example' },
      call,
    );
    expect(foreign.status).toBe(403);
    expect(foreign.text).toContain('origin https://evil.example is not allowed');
    const rebound = await raw(
      'POST',
      '/api/call',
      { ...json, [TOKEN_HEADER]: bridge.token, host: `evil.example:${bridge.port}` },
      call,
    );
    expect(rebound.status).toBe(403);
    const badJson = await raw('POST', '/api/call', { ...json, [TOKEN_HEADER]: bridge.token }, '{');
    expect(JSON.parse(badJson.text).error).toMatch(/not valid JSON/);
    const malformed = await raw(
      'POST',
      '/api/call',
      { ...json, [TOKEN_HEADER]: bridge.token },
      JSON.stringify({ call: 'getRun', args: [1] }),
    );
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.text).error).toMatch(/getRun: argument 1/);
  });

  it('the browser client calls through it and surfaces engine errors', async () => {
    const api = client();
    expect((await api.version()).name).toBe('gradbench');
    expect((await api.listProfiles()).map((p) => p.name)).toContain('default');
    const bad = await api.saveProfile({ name: 'x', train: { steps: -1 } });
    expect(bad.ok).toBe(false);
    await expect(api.getRun('no-such-run')).rejects.toThrow(/no run "no-such-run"/);
    await expect(api.getRun('no-such-run')).rejects.toBeInstanceOf(BridgeError);
    const wrong = bridgeApi({ baseUrl: bridge.url, token: 'nope' });
    await expect(wrong.version()).rejects.toThrow(/session token/);
    api.close();
  });

  it('pushes events over the WebSocket, only with the token', async () => {
    const api = client();
    const events: ApiEvent[] = [];
    const off = api.onEvent((e) => events.push(e));
    // The socket connects asynchronously; wait until it is registered by saving until an event arrives.
    for (let i = 0; i < 50 && !events.length; i++) {
      await api.saveProfile({ name: `p${i}` });
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(events.some((e) => e.type === 'profiles-changed')).toBe(true);
    off();
    api.close();
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}/api/events?token=wrong`);
      ws.on('open', () => resolve('open'));
      ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.on('error', () => resolve('error'));
    });
    expect(refused).toBe('403');
  });
});
