/**
 * Raw Node-to-Node loopback TCP throughput: the ceiling the comm layer's numbers are judged
 * against. No framing, no worker threads, no copies beyond what net.Socket itself does.
 *
 * - measureRawPair(): one sender process (this one) streams into one sink process.
 * - measureRawRing(world): `world` processes, each sending to the next while receiving from the
 *   previous (the traffic pattern of one ring-collective step), all at once.
 *
 * The helper processes run this same compiled file: `node raw-socket.js sink <port> <ackBytes>` or
 * `node raw-socket.js ring` (driven over an IPC channel). Run directly (`node raw-socket.js [world]`)
 * it prints both measurements.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MiB = 2 ** 20;
const WRITE_BYTES = 4 * MiB;
const self = fileURLToPath(import.meta.url);

/** Writes `total` bytes of `block` to `socket` in block-sized writes, waiting for drain. */
async function stream(socket: net.Socket, block: Buffer, total: number): Promise<void> {
  let left = total;
  while (left > 0) {
    const n = Math.min(block.length, left);
    left -= n;
    const ok = socket.write(n === block.length ? block : block.subarray(0, n));
    if (!ok && left > 0) await once(socket, 'drain');
  }
  // Resolve once everything queued has been handed to the kernel.
  if (socket.writableLength > 0) await once(socket, 'drain');
}

function spawnSelf(args: string[], ipc: boolean): ChildProcess {
  return spawn(process.execPath, [self, ...args], {
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'inherit', 'inherit'],
  });
}

function exitError(child: ChildProcess, what: string): Promise<never> {
  return new Promise((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited early (code ${code}, signal ${signal})`)),
    ),
  );
}

/**
 * One sender, one sink: a warmup of `warmupMiB`, then `rounds` transfers of `totalMiB`, each timed
 * until the sink has acknowledged its last byte. Returns the best round in GB/s (1e9 bytes/s): the
 * machine is shared, and the ceiling is what matters here.
 */
export async function measureRawPair(totalMiB = 512, warmupMiB = 64, rounds = 3): Promise<number> {
  const ackEvery = warmupMiB * MiB;
  if ((totalMiB * MiB) % ackEvery !== 0)
    throw new Error('totalMiB must be a multiple of warmupMiB');
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const child = spawnSelf(['sink', String(port), String(ackEvery)], false);
  const died = exitError(child, 'raw sink');
  died.catch(() => undefined);
  try {
    const [socket] = (await Promise.race([once(server, 'connection'), died])) as [net.Socket];
    socket.setNoDelay(true);
    let acks = 0;
    let ackWaiter: (() => void) | undefined;
    let ackTarget = 0;
    socket.on('data', (chunk: Buffer) => {
      acks += chunk.length;
      if (ackWaiter && acks >= ackTarget) ackWaiter();
    });
    const acked = (n: number): Promise<void> =>
      new Promise((resolve) => {
        ackTarget = n;
        if (acks >= n) return resolve();
        ackWaiter = () => {
          ackWaiter = undefined;
          resolve();
        };
      });
    const block = Buffer.alloc(WRITE_BYTES, 0x5a);
    await stream(socket, block, ackEvery);
    await Promise.race([acked(1), died]);
    let best = 0;
    let acksWanted = 1;
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await stream(socket, block, totalMiB * MiB);
      acksWanted += (totalMiB * MiB) / ackEvery;
      await Promise.race([acked(acksWanted), died]);
      const seconds = (performance.now() - t0) / 1000;
      best = Math.max(best, (totalMiB * MiB) / seconds / 1e9);
    }
    socket.end();
    return best;
  } finally {
    server.close();
    if (child.exitCode === null) child.kill();
  }
}

type RingToChild =
  { kind: 'next'; port: number } | { kind: 'go'; bytes: number } | { kind: 'quit' };
type RingFromChild =
  { kind: 'port'; port: number } | { kind: 'connected' } | { kind: 'done'; ms: number };

/**
 * `world` processes in a ring, each streaming `totalMiB` to its successor while receiving as much
 * from its predecessor. Returns the per-link throughput in GB/s: bytes sent per process divided by
 * the time until every process has sent and received everything (best of `rounds`).
 */
export async function measureRawRing(
  world = 4,
  totalMiB = 256,
  warmupMiB = 32,
  rounds = 3,
): Promise<number> {
  if (!Number.isInteger(world) || world < 2)
    throw new Error(`a ring needs at least 2 processes, got ${world}`);
  const children = Array.from({ length: world }, () => spawnSelf(['ring'], true));
  const died = Promise.race(children.map((c, i) => exitError(c, `raw ring process ${i}`)));
  died.catch(() => undefined);
  const inbox = children.map(() => [] as RingFromChild[]);
  const waiters = children.map(() => undefined as (() => void) | undefined);
  children.forEach((c, i) =>
    c.on('message', (m: RingFromChild) => {
      inbox[i].push(m);
      waiters[i]?.();
    }),
  );
  const next = async <K extends RingFromChild['kind']>(
    i: number,
    kind: K,
  ): Promise<Extract<RingFromChild, { kind: K }>> => {
    for (;;) {
      const m = inbox[i].shift();
      if (m) {
        if (m.kind !== kind)
          throw new Error(`raw ring process ${i}: expected ${kind}, got ${m.kind}`);
        return m as Extract<RingFromChild, { kind: K }>;
      }
      await Promise.race([new Promise<void>((r) => (waiters[i] = r)), died]);
      waiters[i] = undefined;
    }
  };
  const send = (i: number, m: RingToChild): void => void children[i].send(m);
  const all = <K extends RingFromChild['kind']>(kind: K) =>
    Promise.all(children.map((_, i) => next(i, kind)));
  try {
    const ports = (await all('port')).map((m) => m.port);
    children.forEach((_, i) => send(i, { kind: 'next', port: ports[(i + 1) % world] }));
    await all('connected');
    const round = async (bytes: number): Promise<number> => {
      const t0 = performance.now();
      children.forEach((_, i) => send(i, { kind: 'go', bytes }));
      await all('done');
      return (performance.now() - t0) / 1000;
    };
    await round(warmupMiB * MiB);
    let best = 0;
    for (let i = 0; i < rounds; i++)
      best = Math.max(best, (totalMiB * MiB) / (await round(totalMiB * MiB)) / 1e9);
    return best;
  } finally {
    for (const c of children) {
      if (c.connected) c.send({ kind: 'quit' } satisfies RingToChild);
      setTimeout(() => {
        if (c.exitCode === null) c.kill();
      }, 2000).unref();
    }
  }
}

/** Child: connects to the parent and counts bytes, writing one ack byte per `ackEvery` bytes. */
function runSink(port: number, ackEvery: number): void {
  const socket = net.connect({ host: '127.0.0.1', port });
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    let acks = 0;
    while (pending >= ackEvery) {
      pending -= ackEvery;
      acks++;
    }
    if (acks > 0) socket.write(Buffer.alloc(acks, 1));
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => process.exit(1));
}

/** Child: one ring member, driven by the parent over IPC. */
function runRingMember(): void {
  const send = (m: RingFromChild): void => void process.send!(m);
  let out: net.Socket | undefined;
  let incoming: net.Socket | undefined;
  let received = 0;
  let expected = 0;
  let recvWaiter: (() => void) | undefined;
  const block = Buffer.alloc(WRITE_BYTES, 0xa5);
  const server = net.createServer((s) => {
    incoming = s;
    s.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (recvWaiter && received >= expected) recvWaiter();
    });
    s.on('error', () => process.exit(1));
    maybeConnected();
  });
  let outReady = false;
  const maybeConnected = (): void => {
    if (incoming && outReady) send({ kind: 'connected' });
  };
  server.listen(0, '127.0.0.1', () =>
    send({ kind: 'port', port: (server.address() as net.AddressInfo).port }),
  );
  process.on('message', (m: RingToChild) => {
    switch (m.kind) {
      case 'next':
        out = net.connect({ host: '127.0.0.1', port: m.port }, () => {
          out!.setNoDelay(true);
          outReady = true;
          maybeConnected();
        });
        out.on('error', () => process.exit(1));
        return;
      case 'go': {
        const t0 = performance.now();
        expected += m.bytes;
        const got = new Promise<void>((resolve) => {
          if (received >= expected) return resolve();
          recvWaiter = () => {
            recvWaiter = undefined;
            resolve();
          };
        });
        void Promise.all([stream(out!, block, m.bytes), got]).then(() =>
          send({ kind: 'done', ms: performance.now() - t0 }),
        );
        return;
      }
      case 'quit':
        out?.destroy();
        incoming?.destroy();
        server.close();
        process.disconnect();
        return;
    }
  });
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === self;
if (isMain) {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'sink') runSink(Number(rest[0]), Number(rest[1]));
  else if (mode === 'ring') runRingMember();
  else {
    const world = Number(mode ?? 4);
    const pair = await measureRawPair();
    process.stdout.write(`raw loopback pair: ${pair.toFixed(3)} GB/s\n`);
    const ring = await measureRawRing(world);
    process.stdout.write(`raw loopback ring(${world}): ${ring.toFixed(3)} GB/s per link\n`);
  }
}
