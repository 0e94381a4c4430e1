"""GradBench's own codecs as torch functions, written from the method contracts:

- int8 blockwise: per block of B values (B = 256) a scale max|x| / 127 and codes round(x / scale).
  Every rank picks its own scales, so payloads are not summable: ranks exchange them (all-gather)
  and each decodes and sums.
- top-k: the k = ratio * n entries of largest |x| as (index, value) pairs; not summable either.

Each codec packs its payload into one flat byte tensor (one collective per bucket) and reports
the bytes it puts on the wire. `python3 -m gradbench_torch.codecs FILE METHOD` prints the relative
error ||D(C(x)) - x|| / ||x|| of a float32 little-endian vector for each method (JSON), for
cross-checking the built-in codecs.
"""
import json
import math
import sys

import numpy as np
import torch

INT8_LEVELS = 127


def _as_bytes(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8)


class Int8Blockwise:
    def __init__(self, block: int = 256):
        self.block = block

    def payload_bytes(self, n: int) -> int:
        return math.ceil(n / self.block) * 4 + n

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        n, B = x.numel(), self.block
        blocks = math.ceil(n / B)
        padded = torch.zeros(blocks * B, dtype=torch.float32)
        padded[:n] = x
        rows = padded.view(blocks, B)
        absmax = rows.abs().amax(dim=1)
        mul = torch.where(absmax > 0, INT8_LEVELS / absmax, torch.zeros_like(absmax))
        # Round half up, as the built-in codec (floor(x + 0.5)).
        codes = torch.floor(rows * mul[:, None] + 0.5).to(torch.int8).flatten()[:n]
        return torch.cat([_as_bytes(absmax), _as_bytes(codes)])

    def decode(self, payload: torch.Tensor, n: int) -> torch.Tensor:
        blocks = math.ceil(n / self.block)
        absmax = payload[: blocks * 4].view(torch.float32)
        codes = payload[blocks * 4 : blocks * 4 + n].view(torch.int8).to(torch.float32)
        step = (absmax / INT8_LEVELS).repeat_interleave(self.block)[:n]
        return codes * step


class TopK:
    def __init__(self, ratio: float = 0.01):
        self.ratio = ratio

    def k(self, n: int) -> int:
        return max(1, math.ceil(self.ratio * n))

    def payload_bytes(self, n: int) -> int:
        return self.k(n) * 8

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        idx = x.abs().topk(self.k(x.numel()), sorted=False).indices
        return torch.cat([_as_bytes(idx.to(torch.int32)), _as_bytes(x[idx])])

    def decode(self, payload: torch.Tensor, n: int) -> torch.Tensor:
        k = self.k(n)
        idx = payload[: 4 * k].view(torch.int32).to(torch.int64)
        values = payload[4 * k : 8 * k].view(torch.float32)
        return torch.zeros(n, dtype=torch.float32).index_add_(0, idx, values)


class Bf16:
    """bfloat16 values (for process groups whose all-reduce has no bfloat16, e.g. gloo)."""

    def payload_bytes(self, n: int) -> int:
        return 2 * n

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return _as_bytes(x.to(torch.bfloat16))

    def decode(self, payload: torch.Tensor, n: int) -> torch.Tensor:
        return payload.view(torch.bfloat16).to(torch.float32)


def make_codec(method_id: str, params: dict):
    if method_id == "bf16":
        return Bf16()
    if method_id == "int8":
        return Int8Blockwise(int(params.get("block", 256)))
    if method_id == "topk":
        return TopK(float(params.get("ratio", 0.01)))
    raise ValueError(f"no codec for {method_id}")


def relative_error(codec, x: torch.Tensor) -> float:
    decoded = codec.decode(codec.encode(x), x.numel())
    return float((decoded - x).norm() / x.norm())


if __name__ == "__main__":
    vector = torch.from_numpy(np.fromfile(sys.argv[1], dtype="<f4").copy())
    print(json.dumps({m: relative_error(make_codec(m, {}), vector) for m in sys.argv[2:]}))
