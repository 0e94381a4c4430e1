"""PyTorch measured beside GradBench on the same machine (driven by bench-peers.ts).

  torch_peer.py allreduce WORLD BYTES ITERS   gloo all-reduce of BYTES of float32 per call
  torch_peer.py gpt WORLD STEPS               the engine's micro GPT (4 layers, d 128, 4 heads,
                                              context 128, vocabulary 65, untied head, batch 8
                                              per rank), AdamW, DDP over gloo when WORLD > 1

One intra-op thread per rank process, as the engine's ranks compute on one thread each. Rank 0
prints one JSON line.
"""
import json
import math
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

VOCAB, LAYERS, D_MODEL, HEADS, CONTEXT, BATCH = 65, 4, 128, 4, 128, 8
WARMUP_STEPS = 3


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D_MODEL, 3 * D_MODEL)
        self.out = nn.Linear(D_MODEL, D_MODEL)
        # A plain attribute, not a buffer: DDP broadcasts buffers, and gloo cannot send bool.
        self.future = torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).triu(1)

    def forward(self, x):
        b, t, c = x.shape
        heads = [z.reshape(b, t, HEADS, c // HEADS).transpose(1, 2) for z in self.qkv(x).chunk(3, -1)]
        q, k, v = heads
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(c // HEADS)
        weights = scores.masked_fill(self.future[:t, :t], float('-inf')).softmax(-1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, c))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
        self.attn = Attention()
        self.mlp = nn.Sequential(nn.Linear(D_MODEL, 4 * D_MODEL), nn.GELU(), nn.Linear(4 * D_MODEL, D_MODEL))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class MicroGpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, D_MODEL), nn.Embedding(CONTEXT, D_MODEL)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for layer in self.layers:
            x = layer(x)
        return self.head(self.norm(x))


def gpt_rank(rank, world, steps):
    model = MicroGpt()
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.Generator().manual_seed(rank)
    times = []
    for _ in range(steps):
        tokens = torch.randint(0, VOCAB, (BATCH, CONTEXT + 1), generator=data)
        t0 = time.perf_counter()
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    ms = statistics.median(times[WARMUP_STEPS:]) * 1e3
    return {'msPerStep': ms, 'tokensPerSec': world * BATCH * CONTEXT / (ms / 1e3)}


def allreduce_rank(rank, world, nbytes, iters):
    x = torch.ones(nbytes // 4)
    for _ in range(2):
        dist.all_reduce(x)
    dist.barrier()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(iters):
        dist.all_reduce(x)
    sec = (time.perf_counter() - t0) / iters
    # Process CPU time of all threads (gloo's I/O thread included), as bench-rank reports it.
    cpu_ms = (time.process_time() - cpu0) / iters * 1e3
    return {'timeUs': sec * 1e6, 'cpuMs': cpu_ms, 'busbwGBs': nbytes / sec / 1e9 * 2 * (world - 1) / world}


def main(rank, world, port, task, args):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if world > 1:
        dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    out = gpt_rank(rank, world, *args) if task == 'gpt' else allreduce_rank(rank, world, *args)
    if rank == 0:
        print(json.dumps({'torch': torch.__version__, **out}), flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    task, world, rest = sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]]
    mp.spawn(main, args=(world, free_port(), task, rest), nprocs=world)
