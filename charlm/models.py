"""Neural language models honouring ``idx (B, T) -> logits (B, vocab)`` (Chapter 2 on).

Each model is built from a small dataclass config and an explicit ``torch.Generator``;
the order in which parameters are drawn from it is part of the recipe, so the lectures'
seeded runs reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of the Bengio et al. (2003) MLP of Chapter 2; invalid values raise ValueError."""

    vocab_size: int = 27  # number of tokens, from the data's Vocab
    block_size: int = 3  # characters of context the model reads
    n_embd: int = 10  # size of each character's embedding vector
    n_hidden: int = 200  # tanh units in the hidden layer

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_embd", "n_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"MLPConfig.{name} must be a positive integer, got {value!r}")

    def build(self, generator: torch.Generator) -> MLP:
        """A fresh MLP whose parameters are drawn from ``generator``."""
        return MLP(self, generator)


class MLP(nn.Module):
    """Embed each context character, concatenate, one tanh layer, then logits (Chapter 2).

    Parameters keep the lecture's names and are drawn from ``generator`` in its order,
    each from a standard normal: C, W1, b1, W2, b2.
    """

    def __init__(self, config: MLPConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.config = config
        self.block_size = config.block_size
        V, T, E, H = config.vocab_size, config.block_size, config.n_embd, config.n_hidden
        g = generator
        self.C = nn.Parameter(torch.randn((V, E), generator=g))  # embedding table
        self.W1 = nn.Parameter(torch.randn((T * E, H), generator=g))
        self.b1 = nn.Parameter(torch.randn(H, generator=g))
        self.W2 = nn.Parameter(torch.randn((H, V), generator=g))
        self.b2 = nn.Parameter(torch.randn(V, generator=g))

    def num_params(self) -> int:
        """Number of trainable numbers."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        emb = self.C[idx]  # (B, T, E): row idx of C, the same as one_hot(idx) @ C
        h = torch.tanh(emb.view(emb.shape[0], -1) @ self.W1 + self.b1)  # (B, H)
        return h @ self.W2 + self.b2  # (B, V)
