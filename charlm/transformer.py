"""A small causal Transformer, with its attention written out (Chapter 7).

The decoder of Vaswani et al. (2017) as GPT-2 arranges it (Radford et al. 2019): token and
position embeddings, then blocks of causal self-attention and a two-layer MLP, each read
through a LayerNorm and added back to the stream (pre-LayerNorm), and a final LayerNorm
and linear head. Position t attends only to positions <= t, so the logits at every
position predict the next character from the prefix so far (``charlm.sequence``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.layers import Dropout, Linear
from charlm.sequence import SequenceModel


class LayerNorm(nn.Module):
    """Normalise each position's features to zero mean and unit variance, then scale and
    shift (Ba et al. 2016): BatchNorm's arithmetic over the features instead of the batch,
    so it needs no running statistics and behaves the same in training and eval (Chapter 7)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(-1, keepdim=True)  # (..., dim)
        var = (centred**2).mean(-1, keepdim=True)  # the biased variance, (..., 1)
        return self.weight * centred / torch.sqrt(var + self.eps) + self.bias


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees only itself and earlier ones.

    Every position emits a query, a key and a value per head. A position's output in a
    head is the average of the values of positions <= it, weighted by the softmax of its
    query's dot products with their keys, scaled by 1/sqrt(head size) so the softmax does
    not saturate. The heads' outputs are concatenated and projected back. The last
    attention weights are kept in ``.att`` (B, heads, T, T) for plots (Chapter 7).
    """

    def __init__(self, n_embd: int, n_head: int, *, generator: torch.Generator) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_head = n_head
        self.qkv = Linear(n_embd, 3 * n_embd, generator=generator)
        self.proj = Linear(n_embd, n_embd, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        att = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])  # (B, nh, T, T)
        future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
        self.att = att.detach()
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # the heads side by side
        return self.proj(y)


class Block(nn.Module):
    """``x + attention(LN(x))``, then ``x + MLP(LN(x))``: a pre-LayerNorm block (Chapter 7)."""

    def __init__(
        self, n_embd: int, n_head: int, dropout: float = 0.0, *, generator: torch.Generator
    ) -> None:
        super().__init__()
        g = generator
        self.ln1 = LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, generator=g)
        self.ln2 = LayerNorm(n_embd)
        self.fc = Linear(n_embd, 4 * n_embd, generator=g)
        self.fc_out = Linear(4 * n_embd, n_embd, generator=g)
        self.drop = Dropout(dropout, g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))  # positions exchange information
        return x + self.drop(self.fc_out(F.gelu(self.fc(self.ln2(x)))))  # each on its own


@dataclass(frozen=True)
class TransformerConfig:
    """A decoder-only Transformer (Chapter 7); the defaults are makemore's."""

    vocab_size: int = 27  # number of tokens
    block_size: int = 16  # characters of context (names are at most 15 long)
    n_layer: int = 4  # blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 64  # width of the residual stream
    dropout: float = 0.0  # probability of zeroing each value a block adds to the stream

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"TransformerConfig.{name} must be a positive integer, got {value!r}"
                )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"TransformerConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"TransformerConfig.n_embd ({self.n_embd}) must be divisible by n_head "
                f"({self.n_head})"
            )

    def build(self, generator: torch.Generator) -> Transformer:
        return Transformer(self, generator)


class Transformer(SequenceModel):
    """Token + position embeddings -> blocks -> LayerNorm -> logits at each position."""

    def __init__(self, config: TransformerConfig, generator: torch.Generator) -> None:
        super().__init__()
        g, C = generator, config.n_embd
        self.config = config
        self.block_size = config.block_size
        self.wte = nn.Parameter(torch.randn(config.vocab_size, C, generator=g))  # what
        self.wpe = nn.Parameter(torch.randn(config.block_size, C, generator=g))  # where
        self.blocks = nn.ModuleList(
            Block(C, config.n_head, config.dropout, generator=g) for _ in range(config.n_layer)
        )
        self.ln_f = LayerNorm(C)
        self.head = Linear(C, config.vocab_size, generator=g)
        with torch.no_grad():
            self.head.weight *= 0.1  # less confident predictions at initialisation

    def all_logits(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        x = self.wte[idx] + self.wpe[:T]  # (B, T, C): what and where
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)
