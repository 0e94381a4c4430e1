/**
 * Who may drive a benchmark through `gradbench serve`: the real server (the built renderer, a real
 * run with real ranks), probed the way another local user, a web page in the browser or a DNS
 * rebinding attack would. Only a client with the session token, on the server's own origin and
 * host name, can start or cancel a run or watch its events; the token never leaves the server on
 * a route that does not already require it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvent, LiveRun } from '../../engine/app/api.js';
import type { ApiService } from '../../engine/app/api-service.js';
import { TOKEN_HEADER, type Bridge } from '../../engine/app/bridge.js';
import { RENDERER_DIR, serve } from '../../engine/cli/serve.js';
import { tokenMatches } from '../../engine/comm/link.js';
import { rawRequest, type HttpReply } from './helpers.js';

// One server and data directory for the whole file: the last test reads what the run wrote.
let home: string;
let bridge: Bridge;
let service: ApiService;

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'gradbench-test-'));
  ({ bridge, service } = await serve(0, home));
});
afterAll(async () => {
  await service.cancelAll();
  await bridge.close();
  await rm(home, { recursive: true, force: true });
});

/** Everything any client without the full credentials got back, to search for the token. */
const unauthenticatedReplies: string[] = [];

const raw = (method: string, urlPath: string, headers: Record<string, string>, body?: string) =>
  rawRequest(bridge.port, method, urlPath, headers, body);

const JSON_TYPE = { 'content-type': 'application/json' };
const call = (name: string, ...args: unknown[]): string => JSON.stringify({ call: name, args });

/** Ways to present a call without the full credentials, each with what refuses it. */
function impostors(): { who: string; path?: string; headers: Record<string, string> }[] {
  const token = bridge.token;
  const oneOff = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
  const host = `127.0.0.1:${bridge.port}`;
  return [
    { who: 'no token', headers: { ...JSON_TYPE } },
    { who: 'a wrong token of the same length', headers: { ...JSON_TYPE, [TOKEN_HEADER]: oneOff } },
    { who: 'a prefix of the token', headers: { ...JSON_TYPE, [TOKEN_HEADER]: token.slice(0, 8) } },
    {
      who: 'the token in the query string instead of the header',
      path: `/api/call?token=${encodeURIComponent(token)}`,
      headers: { ...JSON_TYPE },
    },
    {
      who: 'a page on another origin',
      headers: { ...JSON_TYPE, [TOKEN_HEADER]: token, origin: 'https://evil.example' },
    },
    {
      who: 'a sandboxed frame (origin null)',
      headers: { ...JSON_TYPE, [TOKEN_HEADER]: token, origin: 'null' },
    },
    {
      who: 'the same host on another port',
      headers: {
        ...JSON_TYPE,
        [TOKEN_HEADER]: token,
        origin: `http://127.0.0.1:${bridge.port + 1}`,
      },
    },
    {
      who: 'a rebound host name',
      headers: { ...JSON_TYPE, [TOKEN_HEADER]: token, host: `evil.example:${bridge.port}` },
    },
    {
      who: 'a text/plain body (what a cross-site form can send)',
      headers: { 'content-type': 'text/plain', [TOKEN_HEADER]: token, host },
    },
  ];
}

async function expectRefused(reply: HttpReply, who: string): Promise<void> {
  expect([401, 403, 415], who).toContain(reply.status);
  expect(JSON.parse(reply.text).ok, who).toBe(false);
  // No CORS grant either: a browser would not even let the page read the refusal.
  expect(reply.headers['access-control-allow-origin'], who).toBeUndefined();
  unauthenticatedReplies.push(reply.text, JSON.stringify(reply.headers));
}

const PROBE_PROFILE = {
  name: 'security-probe',
  model: { preset: 'nano' },
  // Long enough that it is still running when the impostors try to cancel it.
  train: { steps: 100_000, batchPerRank: 2 },
  parallel: { worldSize: 1, nodes: 1, sharding: 'NO_SHARD' },
};

/** Opens a socket at `target` (path and query); 'open', or the HTTP status that refused it. */
function openSocket(
  target: string,
  headers: Record<string, string> = {},
): Promise<{ result: string; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}${target}`, { headers });
    ws.on('open', () => resolve({ result: 'open', ws }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        unauthenticatedReplies.push(body, JSON.stringify(res.headers));
        resolve({ result: String(res.statusCode) });
      });
    });
    ws.on('error', (e) => resolve({ result: `error ${e.message}` }));
  });
}

/** True while a process with this id exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor<T>(what: string, get: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('gradbench serve against other users and other origins', () => {
  it('listens on 127.0.0.1 only: other interfaces of this machine get no connection', async () => {
    expect(new URL(bridge.url).hostname).toBe('127.0.0.1');
    const connect = (host: string): Promise<string> =>
      new Promise((resolve) => {
        const socket = net.connect({ host, port: bridge.port, timeout: 1000 });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('timeout', () => {
          socket.destroy();
          resolve('timeout');
        });
        socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
    expect(await connect('127.0.0.1')).toBe('connected');
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => a!.address);
    // On Linux all of 127/8 reaches this machine: 127.0.0.2 is another address of it.
    if (process.platform === 'linux') others.push('127.0.0.2');
    others.push('::1');
    for (const host of others) expect(await connect(host), host).not.toBe('connected');
  });

  it('does not start a run for a client without the token, on another origin or host name', async () => {
    for (const who of impostors()) {
      const reply = await raw(
        'POST',
        who.path ?? '/api/call',
        who.headers,
        call('startRun', { profile: PROBE_PROFILE }),
      );
      await expectRefused(reply, who.who);
    }
    // A CORS preflight from another origin is refused too.
    const preflight = await raw('OPTIONS', '/api/call', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': TOKEN_HEADER,
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    unauthenticatedReplies.push(preflight.text);
    expect(await service.liveRuns()).toEqual([]);
    expect(await service.listRuns()).toEqual([]);
    expect(await readdir(path.join(home, 'runs')).catch(() => [])).toEqual([]);
  });

  it('lets nobody else cancel a running benchmark or watch its events; the owner can do both', async () => {
    const start = await raw(
      'POST',
      '/api/call',
      { ...JSON_TYPE, [TOKEN_HEADER]: bridge.token },
      call('startRun', { profile: PROBE_PROFILE }),
    );
    expect(start.status).toBe(200);
    const run = (JSON.parse(start.text) as { result: LiveRun }).result;
    expect(run.status).toBe('running');
    const liveRun = async (): Promise<LiveRun | undefined> =>
      (await service.liveRuns()).find((r) => r.id === run.id);
    // Its rank processes are up before anyone else tries to stop it.
    const pids = await waitFor('the rank to start', async () => {
      const ranks = (await liveRun())?.ranks ?? [];
      return ranks.length ? ranks.map((r) => r.pid) : undefined;
    });

    for (const who of impostors()) {
      const reply = await raw(
        'POST',
        who.path ?? '/api/call',
        who.headers,
        call('cancelRun', run.id),
      );
      await expectRefused(reply, who.who);
    }

    const token = encodeURIComponent(bridge.token);
    const eventsUrl = `/api/events?token=${token}`;
    const sockets: [string, string, Record<string, string>][] = [
      ['no token', '/api/events', {}],
      ['a wrong token', `/api/events?token=${'x'.repeat(bridge.token.length)}`, {}],
      ['the token in a header instead', '/api/events', { [TOKEN_HEADER]: bridge.token }],
      ['another origin', eventsUrl, { origin: 'https://evil.example' }],
      ['a rebound host name', eventsUrl, { host: `evil.example:${bridge.port}` }],
      ['another socket path', `/api/call?token=${token}`, {}],
    ];
    for (const [who, target, headers] of sockets)
      expect((await openSocket(target, headers)).result, who).toBe('403');

    // The owner's socket does carry this run's events: the refusals above withheld something real.
    const owner = await openSocket(eventsUrl);
    expect(owner.result).toBe('open');
    const events: ApiEvent[] = [];
    owner.ws!.on('message', (m: Buffer) => events.push(JSON.parse(m.toString()) as ApiEvent));
    const isThisRun = (e: ApiEvent): boolean => e.type === 'run' && e.run.id === run.id;
    await waitFor('an event of the run', async () => (events.some(isThisRun) ? true : undefined));

    // After every refused cancel the run and its ranks are still going...
    expect((await liveRun())?.status).toBe('running');
    for (const pid of pids) expect(alive(pid), `rank pid ${pid}`).toBe(true);
    // ...until its owner cancels it.
    const cancel = await raw(
      'POST',
      '/api/call',
      { ...JSON_TYPE, [TOKEN_HEADER]: bridge.token },
      call('cancelRun', run.id),
    );
    expect(cancel.status).toBe(200);
    const ended = await waitFor('the run to end', async () => {
      const r = await liveRun();
      return r && r.status !== 'running' ? r : undefined;
    });
    expect(ended.status).toBe('cancelled');
    await waitFor('the ranks to exit', async () => (pids.some(alive) ? undefined : true));
    owner.ws!.close();
  });

  it('never hands the token out: not in the page, its assets, refusals, or the data directory', async () => {
    const files = (await readdir(RENDERER_DIR, { recursive: true })).filter((f) =>
      /\.(html|js|css|json|svg)$/.test(f),
    );
    expect(files).toContain('index.html');
    for (const urlPath of ['/', ...files.map((f) => `/${f.split(path.sep).join('/')}`)]) {
      const reply = await raw('GET', urlPath, {});
      expect(reply.status, urlPath).toBe(200);
      unauthenticatedReplies.push(reply.text, JSON.stringify(reply.headers));
    }
    const index = await raw('GET', '/', {});
    // The URL that carries the token is not sent on to anything the page links to.
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    expect(index.headers['x-frame-options']).toBe('DENY');
    for (const urlPath of ['/missing.js', '/api/events', '/..%2fpackage.json'])
      unauthenticatedReplies.push((await raw('GET', urlPath, {})).text);

    expect(unauthenticatedReplies.length).toBeGreaterThan(20);
    for (const text of unauthenticatedReplies) expect(text).not.toContain(bridge.token);

    // Nothing the server or the run wrote to disk holds it either.
    const written = await readdir(home, { recursive: true, withFileTypes: true });
    const dataFiles = written.filter((d) => d.isFile());
    expect(dataFiles.length).toBeGreaterThan(0);
    for (const d of dataFiles) {
      const file = path.join(d.parentPath, d.name);
      expect(await readFile(file, 'utf8'), file).not.toContain(bridge.token);
    }
  });
});

describe('rank connections', () => {
  it('compare the run token in full: near misses and non-strings are refused', () => {
    const token = 'q3Jx9vL0aZ-_runtoken-4f7Kp2';
    expect(tokenMatches(token, token)).toBe(true);
    const nearMisses: unknown[] = [
      `${token.slice(0, -1)}X`,
      `X${token.slice(1)}`,
      token.slice(0, -1),
      `${token}x`,
      token.toUpperCase(),
      '',
      ` ${token}`,
      [token],
      { toString: () => token },
      undefined,
      null,
      42,
    ];
    for (const got of nearMisses) expect(tokenMatches(token, got), String(got)).toBe(false);
  });
});
