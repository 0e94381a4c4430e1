/**
 * Rendezvous key-value store. Rank 0 hosts it at MASTER_ADDR:MASTER_PORT; every rank (rank 0
 * included) talks to it as a client. Operations: set, get, wait (block until keys exist), add
 * (atomic counter) and barrier. Every connection is authenticated with the run token.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Link, acceptHandshake, connectHandshake, withToken } from './link.js';
import { MsgType, parseControl } from './wire.js';

const RequestSchema = z.discriminatedUnion('op', [
  z.object({ id: z.number().int(), op: z.literal('set'), key: z.string(), value: z.string() }),
  z.object({ id: z.number().int(), op: z.literal('get'), key: z.string() }),
  z.object({
    id: z.number().int(),
    op: z.literal('wait'),
    keys: z.array(z.string()),
    timeoutMs: z.number(),
  }),
  z.object({
    id: z.number().int(),
    op: z.literal('add'),
    key: z.string(),
    delta: z.number().int(),
  }),
  z.object({
    id: z.number().int(),
    op: z.literal('barrier'),
    key: z.string(),
    count: z.number().int().positive(),
    timeoutMs: z.number(),
  }),
]);
type StoreRequest = z.infer<typeof RequestSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface StoreResponse {
  id: number;
  ok: boolean;
  value?: string | null;
  missing?: string[];
  error?: string;
}

export class StoreTimeoutError extends Error {
  override name = 'StoreTimeoutError';
  constructor(
    message: string,
    readonly missing: string[],
  ) {
    super(message);
  }
}

export class StoreServer {
  private readonly data = new Map<string, string>();
  private readonly watchers = new Set<() => void>();
  private readonly links = new Set<Link>();
  private server: net.Server | undefined;
  /** Rejected connection attempts, with reasons (diagnostics and tests). */
  readonly rejections: string[] = [];

  constructor(
    private readonly token: string,
    private readonly handshakeTimeoutMs?: number,
  ) {}

  async listen(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => void this.onConnection(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new Error(
            e.code === 'EADDRINUSE'
              ? `rendezvous port ${host}:${port} is already in use; pick another MASTER_PORT`
              : `cannot host the rendezvous store at ${host}:${port}: ${e.message}`,
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    return (server.address() as net.AddressInfo).port;
  }

  private async onConnection(socket: net.Socket): Promise<void> {
    socket.on('error', () => undefined);
    try {
      await acceptHandshake(
        socket,
        withToken(this.token, (h) =>
          h.role === 'store' ? undefined : `expected a store client, got ${String(h.role)}`,
        ),
        this.handshakeTimeoutMs,
      );
    } catch (e) {
      this.rejections.push((e as Error).message);
      return;
    }
    const link: Link = new Link(socket, {
      allowedTypes: new Set([MsgType.StoreRequest]),
      onMessage: (_type, _tag, payload) => {
        let req: StoreRequest;
        try {
          req = RequestSchema.parse(parseControl(payload));
        } catch {
          link.close();
          return;
        }
        void this.handle(req).then((res) =>
          link
            .send(MsgType.StoreResponse, 0, Buffer.from(JSON.stringify(res)))
            .catch(() => undefined),
        );
      },
      onClose: () => this.links.delete(link),
    });
    this.links.add(link);
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  private waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (pred()) {
          cleanup();
          resolve(true);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        resolve(false);
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
      };
      this.watchers.add(check);
    });
  }

  private async handle(req: StoreRequest): Promise<StoreResponse> {
    switch (req.op) {
      case 'set':
        this.data.set(req.key, req.value);
        this.notify();
        return { id: req.id, ok: true };
      case 'get':
        return { id: req.id, ok: true, value: this.data.get(req.key) ?? null };
      case 'add': {
        const next = Number(this.data.get(req.key) ?? '0') + req.delta;
        this.data.set(req.key, String(next));
        this.notify();
        return { id: req.id, ok: true, value: String(next) };
      }
      case 'wait': {
        const ok = await this.waitFor(() => req.keys.every((k) => this.data.has(k)), req.timeoutMs);
        return ok
          ? { id: req.id, ok: true }
          : {
              id: req.id,
              ok: false,
              error: 'timeout',
              missing: req.keys.filter((k) => !this.data.has(k)),
            };
      }
      case 'barrier': {
        const arrived = Number(this.data.get(req.key) ?? '0') + 1;
        this.data.set(req.key, String(arrived));
        this.notify();
        const ok = await this.waitFor(
          () => Number(this.data.get(req.key)) >= req.count,
          req.timeoutMs,
        );
        return ok
          ? { id: req.id, ok: true }
          : { id: req.id, ok: false, error: 'timeout', value: this.data.get(req.key) ?? '0' };
      }
    }
  }

  async close(): Promise<void> {
    for (const l of this.links) l.close();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}

export interface StoreClientOptions {
  host: string;
  port: number;
  token: string;
  rank: number;
  /** How long to keep retrying while the store is not up yet. */
  connectTimeoutMs: number;
}

export class StoreClient {
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (r: StoreResponse) => void; reject: (e: Error) => void }
  >();
  private failure: Error | undefined;

  private constructor(
    private readonly link: Link,
    /** Our address as seen on the route to the master: what other ranks can reach us at. */
    readonly localAddress: string,
  ) {}

  static async connect(opts: StoreClientOptions): Promise<StoreClient> {
    const deadline = Date.now() + opts.connectTimeoutMs;
    let lastError = '';
    for (;;) {
      const socket = net.connect({ host: opts.host, port: opts.port });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        await connectHandshake(socket, { token: opts.token, rank: opts.rank, role: 'store' });
      } catch (e) {
        socket.destroy();
        lastError = (e as Error).message;
        // A refusal by the store itself (bad token) will not change with retries.
        if (lastError.includes('refused the connection'))
          throw new Error(`rendezvous store: ${lastError}`);
        if (Date.now() >= deadline) {
          throw new Error(
            `could not reach the rendezvous store at ${opts.host}:${opts.port} within ` +
              `${Math.round(opts.connectTimeoutMs / 1000)} s (${lastError}); is rank 0 running and MASTER_ADDR/MASTER_PORT right?`,
          );
        }
        await sleep(100);
        continue;
      }
      let client: StoreClient | undefined = undefined;
      const link = new Link(socket, {
        allowedTypes: new Set([MsgType.StoreResponse]),
        onMessage: (_t, _tag, payload) => client?.onResponse(payload),
        onClose: (err) => client?.onClosed(err),
      });
      client = new StoreClient(link, socket.localAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1');
      return client;
    }
  }

  private onResponse(payload: Buffer): void {
    const res = parseControl(payload) as StoreResponse;
    const p = this.pending.get(res.id);
    if (!p) return;
    this.pending.delete(res.id);
    p.resolve(res);
  }

  private onClosed(err: Error | undefined): void {
    this.failure = new Error(`lost the rendezvous store (rank 0): ${err?.message ?? 'closed'}`);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  private request(req: DistributiveOmit<StoreRequest, 'id'>): Promise<StoreResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.link
        .send(MsgType.StoreRequest, 0, Buffer.from(JSON.stringify({ ...req, id })))
        .catch((e: Error) => {
          this.pending.delete(id);
          reject(e);
        });
    });
  }

  async set(key: string, value: string): Promise<void> {
    await this.request({ op: 'set', key, value });
  }

  async get(key: string): Promise<string | null> {
    return (await this.request({ op: 'get', key })).value ?? null;
  }

  async add(key: string, delta: number): Promise<number> {
    return Number((await this.request({ op: 'add', key, delta })).value);
  }

  /** Waits until every key exists; on timeout throws a StoreTimeoutError listing the missing keys. */
  async wait(keys: string[], timeoutMs: number): Promise<void> {
    const res = await this.request({ op: 'wait', keys, timeoutMs });
    if (!res.ok)
      throw new StoreTimeoutError(
        `timed out waiting for ${res.missing?.join(', ')}`,
        res.missing ?? [],
      );
  }

  /** Blocks until `count` callers reached the barrier named `key`. */
  async barrier(key: string, count: number, timeoutMs: number): Promise<void> {
    const res = await this.request({ op: 'barrier', key: `barrier/${key}`, count, timeoutMs });
    if (!res.ok) {
      throw new StoreTimeoutError(
        `barrier "${key}": only ${res.value} of ${count} ranks arrived within ${Math.round(timeoutMs / 1000)} s`,
        [],
      );
    }
  }

  close(): void {
    this.link.close();
  }
}
