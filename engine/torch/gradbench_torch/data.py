"""Corpora and batches exactly as engine/model/data.ts builds them.

The global batch of step t is a pure function of (seed, t, global batch size) and rank r reads
rows [r * B, (r + 1) * B): both engines train on the same tokens.
"""
import os
from dataclasses import dataclass

import numpy as np

from .rng import uint32, uniform


@dataclass
class Corpus:
    vocab: list
    train: np.ndarray
    val: np.ndarray


def synthetic_text(seed: int, chars: int = 200_000) -> str:
    """The built-in engine's synthetic grammar corpus (xorshift32 over a small word list)."""
    nouns = ["ring", "shard", "model", "token", "layer", "rank", "link", "batch", "sketch", "bucket"]
    verbs = ["sends", "gathers", "reduces", "sparsifies", "trains", "compresses", "decodes", "scatters"]
    adjs = ["fast", "sparse", "dense", "lossless", "quiet", "large", "small", "sharded"]
    state = uint32(seed) or 1

    def pick(words: list) -> str:
        nonlocal state
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        return words[state % len(words)]

    parts, length = [], 0
    while length < chars:
        s = f"the {pick(adjs)} {pick(nouns)} {pick(verbs)} the {pick(nouns)}.\n"
        parts.append(s)
        length += len(s)
    return "".join(parts)[:chars]


def build_corpus(name: str, seed: int, data_dir: str) -> Corpus:
    if name == "shakespeare":
        with open(os.path.join(data_dir, "tinyshakespeare.txt"), encoding="utf-8") as f:
            text = f.read()
    else:
        text = synthetic_text(seed)
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    split = int(len(ids) * 0.9)
    return Corpus(vocab, ids[:split], ids[split:])


def batch_offsets(tokens: int, seq_len: int, global_batch: int, seed: int, step: int) -> np.ndarray:
    if tokens <= seq_len + 1:
        raise ValueError(f"corpus of {tokens} tokens is too short for sequences of {seq_len}")
    u = uniform(uint32(seed * 0x9E3779B1 + step * 0x85EBCA6B + 1), global_batch)
    return np.floor(u * (tokens - seq_len - 1)).astype(np.int64)


def rank_batch(data: np.ndarray, seq_len: int, batch: int, world: int, rank: int, seed: int, step: int):
    """This rank's inputs and next-token targets of `step`, each [batch, seq_len] int64."""
    offs = batch_offsets(len(data), seq_len, batch * world, seed, step)[rank * batch : (rank + 1) * batch]
    rows = offs[:, None] + np.arange(seq_len + 1)[None, :]
    window = data[rows]
    return window[:, :-1], window[:, 1:]
