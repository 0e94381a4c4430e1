import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../engine/comm/check-data.js';
import { Link, ReadRouter, connectHandshake, connectRouted } from '../../engine/comm/link.js';
import type { ProcessGroup } from '../../engine/comm/process-group.js';
import { StoreClient } from '../../engine/comm/store.js';
import {
  FrameDecoder,
  MsgType,
  encodeControl,
  encodeHeader,
  parseControl,
} from '../../engine/comm/wire.js';
import { localGroups } from '../helpers/process-groups.js';

const WORLD = 3;
let groups: ProcessGroup[] = [];
let token = '';
let masterPort = 0;
const rejections: string[] = [];

beforeAll(async () => {
  ({ groups, token, masterPort } = await localGroups(WORLD, { handshakeTimeoutMs: 2000 }, (r) =>
    rejections.push(r),
  ));
});

afterAll(async () => {
  await Promise.all(groups.map((g) => g.shutdown()));
});

async function meshWorks(): Promise<void> {
  const inputs = groups.map((_, r) =>
    Float32Array.from({ length: 10_001 }, (_, i) => r * 1000 + i),
  );
  const outs = await Promise.all(
    groups.map((g, r) =>
      g.collectives.allReduce(new Uint8Array(inputs[r].buffer.slice(0)), 'f32', 'sum'),
    ),
  );
  for (const o of outs) {
    const f = new Float32Array(o.buffer, o.byteOffset, o.byteLength / 4);
    for (let i = 0; i < f.length; i += 997) expect(f[i]).toBe(3 * i + 3000);
  }
}

/** Opens a raw connection, writes `bytes`, and collects what the server answers until it closes. */
function probe(
  port: number,
  bytes: Buffer,
): Promise<{ reply: { type: MsgType; body: unknown }[]; closed: boolean }> {
  return new Promise((resolve) => {
    const reply: { type: MsgType; body: unknown }[] = [];
    const decoder = new FrameDecoder(
      {
        maxMessageBytes: 0,
        maxControlBytes: 4096,
        allowedTypes: new Set([MsgType.Reject, MsgType.HelloAck]),
      },
      (type, _tag, payload) => reply.push({ type, body: parseControl(payload) }),
      () => undefined,
    );
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    s.on('data', (c) => decoder.push(c));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ reply, closed: true }));
    setTimeout(() => {
      s.destroy();
      resolve({ reply, closed: false });
    }, 8000);
  });
}

async function meshPort(rank: number): Promise<number> {
  const addr = (await groups[0].store.get(`mesh/addr/${rank}`))!;
  return Number(addr.split(':').pop());
}

describe('TCP mesh and store in one process', () => {
  it('runs collectives over real sockets', async () => {
    await meshWorks();
  });

  it('refuses a wrong token with a clear reason, on the mesh and on the store; the mesh keeps working', async () => {
    for (const port of [await meshPort(1), masterPort]) {
      const res = await probe(
        port,
        encodeControl(MsgType.Hello, 0, { token: 'not-the-token-at-all', rank: 2, role: 'mesh' }),
      );
      expect(res.closed).toBe(true);
      expect(res.reply).toEqual([{ type: MsgType.Reject, body: { reason: 'invalid run token' } }]);
    }
    await expect(
      StoreClient.connect({
        host: '127.0.0.1',
        port: masterPort,
        token: 'wrong-token-wrong-token',
        rank: 1,
        connectTimeoutMs: 2000,
      }),
    ).rejects.toThrow(/refused the connection: invalid run token/);
    await meshWorks();
  });

  it('refuses garbage bytes, an oversized length field and an impostor rank; the mesh keeps working', async () => {
    const port = await meshPort(0);
    const garbage = await probe(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(garbage.closed).toBe(true);
    expect(String((garbage.reply[0]?.body as { reason: string }).reason)).toMatch(/bad magic/);
    const huge = encodeHeader({
      type: MsgType.Hello,
      flags: 0,
      tag: 0,
      length: 0x7fffffff,
      total: 0x7fffffff,
    });
    const big = await probe(port, huge);
    expect(big.closed).toBe(true);
    expect(String((big.reply[0]?.body as { reason: string }).reason)).toMatch(
      /exceeds the 4096-byte limit/,
    );
    const impostor = await probe(
      port,
      encodeControl(MsgType.Hello, 0, { token, rank: 1, role: 'mesh' }),
    );
    expect(String((impostor.reply[0]?.body as { reason: string }).reason)).toMatch(
      /already connected/,
    );
    expect(rejections.some((r) => /bad magic/.test(r))).toBe(true);
    await meshWorks();
  });

  it('survives 60 connections of random bytes (fuzz) and still runs collectives; a silent client is cut at the handshake timeout', async () => {
    const r = rng(7);
    const port = await meshPort(2);
    const probes = Array.from({ length: 60 }, (_, i) => {
      const valid = encodeControl(MsgType.Hello, 0, { token, rank: 0, role: 'mesh' });
      const bytes =
        i % 2 === 0
          ? Buffer.from(
              Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)),
            )
          : Buffer.from(valid);
      if (i % 2 === 1)
        for (let k = 0; k < 3; k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      return probe(port, bytes);
    });
    const results = await Promise.all(probes);
    expect(results.every((p) => p.closed)).toBe(true);
    expect(results.every((p) => p.reply.every((m) => m.type === MsgType.Reject))).toBe(true);
    await meshWorks();
  });

  it('store: set/get, atomic add, wait with a timeout that lists missing keys', async () => {
    const [a, b] = [groups[0].store, groups[1].store];
    await a.set('k', 'v');
    expect(await b.get('k')).toBe('v');
    expect(await b.get('absent')).toBeNull();
    const sums = await Promise.all([a.add('c', 2), b.add('c', 3)]);
    expect(sums.sort()).toEqual([2, 5]);
    const waiting = b.wait(['later'], 5000);
    await a.set('later', 'x');
    await waiting;
    await expect(a.wait(['never', 'k'], 200)).rejects.toThrow(/timed out waiting for never/);
    await expect(a.barrier('half', 2, 200)).rejects.toThrow(/only 1 of 2 ranks arrived/);
  });
});

describe('connecting side of the handshake', () => {
  it('keeps the frames that share a read with the HelloAck and hands them to the link', async () => {
    // The accepting side may send data the moment its mesh is complete, so its first frame can
    // reach the dialer in the same read as the HelloAck.
    const payload = Buffer.from(Float32Array.from({ length: 300 }, (_, i) => i + 0.5).buffer);
    const frame = Buffer.concat([
      encodeHeader({
        type: MsgType.Data,
        flags: 0,
        tag: 7,
        length: payload.length,
        total: payload.length,
      }),
      payload,
    ]);
    const server = net.createServer((s) => {
      s.once('data', () => s.write(Buffer.concat([encodeControl(MsgType.HelloAck, 0, {}), frame])));
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const router = new ReadRouter();
    const socket = connectRouted('127.0.0.1', port, router);
    await new Promise((resolve) => socket.once('connect', resolve));
    const rest = await connectHandshake(socket, { token: 't', rank: 1, role: 'mesh' });
    expect(rest.equals(frame)).toBe(true);
    const got = await new Promise<{ tag: number; payload: Buffer }>((resolve) => {
      const link = new Link(socket, {
        router,
        initial: rest,
        allowedTypes: new Set([MsgType.Data]),
        onMessage: (_type, tag, p) => resolve({ tag, payload: Buffer.from(p) }),
        onClose: () => undefined,
      });
      expect(link.isClosed).toBe(false);
    });
    expect(got.tag).toBe(7);
    expect(got.payload.equals(payload)).toBe(true);
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
});
