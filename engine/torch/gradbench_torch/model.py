"""The built-in engine's GPT (engine/model/gpt.ts) as a torch module, with the same parameters.

Same units, parameter shapes (weights stored [in, out], used as x @ W), initialisation streams and
values (engine/util/rng.ts through `rng`), pre-LayerNorm blocks, tanh GELU, causal attention and
mean cross-entropy. Parameters are registered unit by unit in the built-in order, which also
decides DDP's bucket order.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .rng import gaussian, uint32

STD = 0.02


@dataclass
class GptConfig:
    vocab: int
    seqLen: int
    layers: int
    dModel: int
    heads: int
    tied: bool = False


def unit_specs(c: GptConfig) -> list:
    """[(unit name, [(param name, shape, init, std, decay)])] in engine/model/gpt.ts's order."""
    C = c.dModel
    proj_std = STD / math.sqrt(2 * c.layers)

    def vec(name, n, init):
        return (name, (n,), init, None, False)

    def mat(name, shape, std=STD):
        return (name, shape, "normal", std, True)

    units = [("embedding", [mat("wte", (c.vocab, C)), mat("wpe", (c.seqLen, C), 0.01)])]
    for layer in range(c.layers):
        units.append(
            (
                f"block{layer}",
                [
                    vec("ln1.g", C, "ones"),
                    vec("ln1.b", C, "zeros"),
                    mat("attn.wqkv", (C, 3 * C)),
                    vec("attn.bqkv", 3 * C, "zeros"),
                    mat("attn.wproj", (C, C), proj_std),
                    vec("attn.bproj", C, "zeros"),
                    vec("ln2.g", C, "ones"),
                    vec("ln2.b", C, "zeros"),
                    mat("mlp.wfc", (C, 4 * C)),
                    vec("mlp.bfc", 4 * C, "zeros"),
                    mat("mlp.wproj", (4 * C, C), proj_std),
                    vec("mlp.bproj", C, "zeros"),
                ],
            )
        )
    head = [vec("lnf.g", C, "ones"), vec("lnf.b", C, "zeros")]
    if not c.tied:
        head.append(mat("w_head", (C, c.vocab)))
    units.append(("head", head))
    return units


def init_value(shape, init, std, unit_index: int, param_index: int, seed: int) -> torch.Tensor:
    """The built-in initUnit's values of one parameter."""
    n = int(np.prod(shape))
    if init == "ones":
        return torch.ones(shape)
    if init == "zeros":
        return torch.zeros(shape)
    stream = uint32(seed * 1_000_003 + unit_index * 1009 + param_index)
    values = (gaussian(stream, n) * std).astype(np.float32)
    return torch.from_numpy(values.reshape(shape))


class Gpt(nn.Module):
    def __init__(self, config: GptConfig, seed: int):
        super().__init__()
        self.config = config
        self.units = nn.ModuleList()
        self.decay = {}
        for ui, (_, params) in enumerate(unit_specs(config)):
            unit = nn.ParameterDict()
            for pi, (name, shape, init, std, decay) in enumerate(params):
                key = name.replace(".", "_")
                unit[key] = nn.Parameter(init_value(shape, init, std, ui, pi, seed))
                self.decay[id(unit[key])] = decay
            self.units.append(unit)
        T = config.seqLen
        self.register_buffer("mask", torch.triu(torch.full((T, T), -1e9), diagonal=1), persistent=False)

    def param_groups(self, weight_decay: float) -> list:
        """AdamW groups: weight decay on matrices only (as the built-in AdamW's decay mask)."""
        params = list(self.parameters())
        return [
            {"params": [p for p in params if self.decay[id(p)]], "weight_decay": weight_decay},
            {"params": [p for p in params if not self.decay[id(p)]], "weight_decay": 0.0},
        ]

    def block(self, p, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        H = self.config.heads
        hd = C // H
        h = F.layer_norm(x, (C,), p["ln1_g"], p["ln1_b"], 1e-5)
        qkv = h @ p["attn_wqkv"] + p["attn_bqkv"]
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in qkv.split(C, dim=2))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd) + self.mask[:T, :T], dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p["attn_wproj"] + p["attn_bproj"]
        h = F.layer_norm(x, (C,), p["ln2_g"], p["ln2_b"], 1e-5)
        m = F.gelu(h @ p["mlp_wfc"] + p["mlp_bfc"], approximate="tanh")
        return x + m @ p["mlp_wproj"] + p["mlp_bproj"]

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of idx [B, T] against targets [B, T]."""
        emb, *blocks, head = self.units
        T = idx.shape[1]
        x = emb["wte"][idx] + emb["wpe"][:T]
        for p in blocks:
            x = self.block(p, x)
        h = F.layer_norm(x, (self.config.dModel,), head["lnf_g"], head["lnf_b"], 1e-5)
        w = emb["wte"].t() if self.config.tied else head["w_head"]
        logits = h @ w
        return F.cross_entropy(logits.reshape(-1, self.config.vocab), targets.reshape(-1))
