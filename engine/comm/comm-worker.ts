/**
 * The comm worker thread: owns the sockets and runs the collectives, so the compute thread (busy
 * inside tfjs kernels) never delays a ring step. Collectives start strictly in the order they were
 * issued on their stream, as on an NCCL stream, each once the previous one is done (an all-to-all:
 * once its sends are out); every rank must issue the same sequence on each stream. Streams
 * (stream-transport.ts) run beside each other. Point-to-point send and
 * recv start at once, beside the queue: a pipeline stage's pending receive must not hold up its
 * data-parallel collectives (nor the reverse), and their tags are independent of the sequence.
 */
import { parentPort } from 'node:worker_threads';
import { ProcessGroup } from './process-group.js';
import { COMM_STREAMS } from './stream-transport.js';
import { PeerError } from './transport.js';
import type { FromWorker, OpRequest, ToWorker } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('comm-worker must run in a worker thread');

/** Period of the 'waiting' report (the rank's heartbeat passes it on to the launcher). */
const WAITING_REPORT_MS = 1000;

let group: ProcessGroup | undefined;
const queues: Promise<void>[] = Array.from({ length: COMM_STREAMS }, () => Promise.resolve());
/** Operations started and not yet finished (a queue moves on before an all-to-all finishes). */
const inFlight = new Set<Promise<void>>();

function post(msg: FromWorker, transfer: ArrayBufferLike[] = []): void {
  // Shared memory (a caller's in-place operand) is shared, never moved.
  const movable = transfer.filter((b): b is ArrayBuffer => !(b instanceof SharedArrayBuffer));
  port!.postMessage(msg, movable);
}

/**
 * Results that live in the client's staging buffer go back by moving that buffer (the view keeps
 * its offset); anything else (received payloads, which may share a socket chunk) is copied first.
 */
function transferable(
  a: Uint8Array,
  staging: ArrayBufferLike,
): { view: Uint8Array; buffers: ArrayBuffer[] } {
  // new Uint8Array(a) copies (Buffer#slice would not: it is a view).
  const view = a.buffer === staging ? a : new Uint8Array(a);
  return { view, buffers: [view.buffer as ArrayBuffer] };
}

/** Views of the payloads packed one after another in `data`. */
function unpack(data: Uint8Array, lengths: number[]): Uint8Array[] {
  let at = 0;
  return lengths.map((n) => data.subarray(at, (at += n)));
}

/**
 * Runs one operation. `sendsDone` is called once the stream may start its next operation: when
 * this one has handed all its data to the network (an all-to-all, whose last step is only
 * receiving), else when it completes.
 */
async function run(req: OpRequest, sendsDone: () => void): Promise<void> {
  const c = group!.streams[req.stream ?? 0];
  if (!c) throw new Error(`no comm stream ${req.stream} (there are ${COMM_STREAMS})`);
  const t0 = performance.now();
  let result: Uint8Array | null = null;
  let parts: Uint8Array[] | undefined;
  switch (req.op) {
    case 'allReduce':
      result = await c.allReduce(req.data, req.dtype, req.reduceOp, req.algo, req.ranks);
      break;
    case 'reduceScatter':
      result = await c.reduceScatter(req.data, req.dtype, req.reduceOp, req.ranks);
      break;
    case 'allGather':
      // The client staged the whole vector with this rank's chunk in place.
      result = await c.allGatherInPlace(req.data, req.dtype, req.totalCount, req.ranks);
      break;
    case 'allGatherV':
      parts = await c.allGatherV(req.data, req.ranks);
      break;
    case 'allToAllV':
      parts = await c.allToAllV(unpack(req.data, req.partBytes ?? []), req.ranks, sendsDone);
      // The client keeps its own part: nothing to move back (the staging buffer goes back anyway).
      parts[req.ranks ? req.ranks.indexOf(group!.rank) : group!.rank] = new Uint8Array(0);
      break;
    case 'reduce':
      result = await c.reduce(req.data, req.dtype, req.reduceOp, req.root, req.ranks);
      break;
    case 'broadcast':
      result = await c.broadcast(req.data, req.root);
      break;
    case 'barrier':
      await c.barrier();
      break;
    case 'send':
      await c.sendTo(req.peer!, req.channel!, req.data);
      break;
    case 'recv':
      parts = [await c.recvFrom(req.peer!, req.channel!)];
      break;
  }
  const ms = performance.now() - t0;
  const buffers: ArrayBuffer[] = [];
  const out = (a: Uint8Array): Uint8Array => {
    const t = transferable(a, req.data.buffer);
    buffers.push(...t.buffers.filter((b) => !buffers.includes(b)));
    return t.view;
  };
  // The staging buffer always goes back to the client's pool, with or without a result in it.
  const data = result ? out(result) : null;
  if (!buffers.includes(req.data.buffer as ArrayBuffer))
    buffers.push(req.data.buffer as ArrayBuffer);
  const moved = parts?.map((p) => movablePart(p, buffers));
  const sentByPeer = group!.mesh.sentByPeer;
  post(
    { kind: 'done', id: req.id, data, staging: req.data, parts: moved, ms, sentByPeer },
    buffers,
  );
}

/**
 * A received part goes back by moving its memory when it owns all of it (a whole message buffer
 * nothing else refers to); anything else (the staging buffer, a view into shared or pooled memory,
 * a second view of a buffer already moved) is copied first. Adds what it moves to `buffers`.
 */
function movablePart(p: Uint8Array, buffers: ArrayBuffer[]): Uint8Array {
  const whole =
    p.byteOffset === 0 &&
    p.byteLength === p.buffer.byteLength &&
    p.byteLength > 0 &&
    !(p.buffer instanceof SharedArrayBuffer) &&
    !buffers.includes(p.buffer as ArrayBuffer);
  const out = whole ? p : new Uint8Array(p);
  buffers.push(out.buffer as ArrayBuffer);
  return out;
}

port.on('message', (msg: ToWorker) => {
  switch (msg.kind) {
    case 'init':
      ProcessGroup.init(msg.config, (reason) => post({ kind: 'rejected', reason }))
        .then((g) => {
          group = g;
          g.mesh.onFailure((err) =>
            post({
              kind: 'failed',
              message: err.message,
              peer: err instanceof PeerError ? err.peer : undefined,
            }),
          );
          post({ kind: 'ready', rank: g.rank, world: g.world });
          setInterval(
            () => post({ kind: 'waiting', peers: g.mesh.waitingOn }),
            WAITING_REPORT_MS,
          ).unref();
        })
        .catch((e: Error) => post({ kind: 'initError', message: e.message }));
      return;
    case 'recycle':
      for (const b of msg.buffers) group?.mesh.recycle(Buffer.from(b));
      return;
    case 'op': {
      let sendsDone!: () => void;
      const streamFree = new Promise<void>((resolve) => (sendsDone = resolve));
      const attempt = (): Promise<void> =>
        run(msg, sendsDone).catch((e: Error) => {
          group?.mesh.releaseBuffer(msg.data.buffer, e.message);
          post(
            {
              kind: 'opError',
              id: msg.id,
              message: e.message,
              peer: e instanceof PeerError ? e.peer : undefined,
              staging: msg.data,
            },
            [msg.data.buffer as ArrayBuffer],
          );
        });
      const s = msg.stream ?? 0;
      // An unknown stream fails in run() with its own message, like any bad request.
      if (msg.op === 'send' || msg.op === 'recv' || !queues[s]) void attempt();
      else
        queues[s] = queues[s].then(() => {
          // The next operation on the stream starts once this one's sends are out: a run of
          // all-to-alls then keeps the NIC busy while the previous call's last parts arrive.
          // Operations still start in issue order, each with its own tag.
          const done = attempt().finally(sendsDone);
          inFlight.add(done);
          void done.then(() => inFlight.delete(done));
          return streamFree;
        });
      return;
    }
    case 'shutdown':
    case 'abort':
      void Promise.all(queues)
        .then(() => Promise.all([...inFlight]))
        .then(async () => {
          try {
            if (group) {
              const t = group.mesh.traffic;
              post({ kind: 'traffic', sent: t.sent, received: t.received });
              await (msg.kind === 'shutdown' && !group.mesh.failure
                ? group.shutdown()
                : group.abort());
            }
          } catch {
            await group?.abort();
          }
          post({ kind: 'closed' });
        });
      return;
  }
});
