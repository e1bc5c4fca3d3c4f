"""Counting n-gram models and the neural bigram (Chapter 1).

The models honour the package's model contract: ``idx`` (B, T) of token ids -> logits
(B, vocab), reading only the last ``block_size`` ids. Before them come the lecture's first
steps: bigrams counted in a Python dict, then moved into a tensor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def count_pairs(words: Iterable[str], start: str = ".", end: str = ".") -> Counter:
    """How often each pair of consecutive tokens occurs, in a dict (Chapter 1).

    Each word is read as ``start``, its characters, then ``end``: ``emma`` gives the pairs
    (start, e), (e, m), (m, m), (m, a), (a, end).
    """
    pairs: Counter = Counter()
    for word in words:
        tokens = [start, *word, end]
        for a, b in zip(tokens, tokens[1:]):
            pairs[a, b] += 1
    return pairs


def pair_table(pairs: Counter, tokens: Sequence[str]) -> torch.Tensor:
    """The counts of ``count_pairs`` as a tensor: ``N[i, j]`` counts token j after token i
    (Chapter 1). ``tokens`` numbers the rows and columns; a token it lacks is a KeyError."""
    index = {token: i for i, token in enumerate(tokens)}
    N = torch.zeros((len(tokens), len(tokens)), dtype=torch.long)  # (V, V)
    for (a, b), count in pairs.items():
        N[index[a], index[b]] = count
    return N


class CountingNgram(nn.Module):
    """Next-character probabilities counted from data, with add-k smoothing (Chapter 1).

    ``block_size=1`` is the bigram model; ``block_size=2`` the trigram of the exercises.
    ``counts[c, j]`` is how often character ``j`` followed context ``c``, where a context
    of ids ``(i1, ..., iT)`` is numbered ``i1 * V**(T-1) + ... + iT``.
    """

    def __init__(self, vocab_size: int, block_size: int = 1, smoothing: float = 1.0) -> None:
        super().__init__()
        if block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        if not smoothing >= 0:
            raise ValueError(f"smoothing must be >= 0, got {smoothing!r}")
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.smoothing = smoothing
        self.register_buffer(
            "counts", torch.zeros(vocab_size**block_size, vocab_size, dtype=torch.long)
        )

    def context_ids(self, idx: torch.Tensor) -> torch.Tensor:
        """Row numbers of the last ``block_size`` ids of each context: (B, T) -> (B,)."""
        ctx = idx[:, -self.block_size :]  # (B, block_size)
        place = self.vocab_size ** torch.arange(self.block_size - 1, -1, -1)  # (block_size,)
        return (ctx * place).sum(dim=1)  # (B,)

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> CountingNgram:
        """Count every (context, next id) pair of a dataset; returns self."""
        cells = self.context_ids(X) * self.vocab_size + Y  # (N,)
        self.counts = torch.bincount(cells, minlength=self.counts.numel()).view_as(self.counts)
        return self

    @property
    def probs(self) -> torch.Tensor:
        """Row-normalised smoothed counts, float32 (V**T, V); an empty row is uniform."""
        P = (self.counts + self.smoothing).float()  # (V**T, V)
        totals = P.sum(dim=1, keepdim=True)  # (V**T, 1)
        return torch.where(totals > 0, P / totals.clamp_min(1e-30), 1.0 / self.vocab_size)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.probs.log()[self.context_ids(idx)]  # (B, V)


class NeuralBigram(nn.Module):
    """One linear layer on a one-hot character: logits = one_hot(x) @ W (Chapter 1)."""

    block_size = 1

    def __init__(self, vocab_size: int, generator: torch.Generator) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.weight = nn.Parameter(torch.randn((vocab_size, vocab_size), generator=generator))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        xenc = F.one_hot(idx[:, -1], self.vocab_size).float()  # (B, V)
        return xenc @ self.weight  # (B, V): row idx of W, computed as a matrix product


class ProbabilityTable(nn.Module):
    """A bigram model given as a table: row i is P(next | i), used as it is (Chapter 1).

    Chapter 1 feeds it a correctly and a wrongly normalised table, to show what a
    broadcasting mistake does. The logits are the table's logs; ``sample`` and ``evaluate``
    apply a softmax to them, which renormalises any row that does not sum to 1.
    """

    block_size = 1

    def __init__(self, probs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("probs", probs)  # (V, V)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.probs.log()[idx[:, -1]]  # (B, V)


def handwritten_nll(
    logits: torch.Tensor, targets: torch.Tensor, subtract_max: bool = False
) -> torch.Tensor:
    """The mean NLL written out as the lecture first does: exponentiate, normalise, take the
    log of the right column (Chapter 1). ``F.cross_entropy`` computes the same in one fused
    step (Chapter 2). ``subtract_max`` first subtracts each row's largest logit, which
    changes no probability but keeps ``exp`` from overflowing."""
    if subtract_max:
        logits = logits - logits.max(dim=1, keepdim=True).values  # (B, V), each row's max 0
    counts = logits.exp()  # (B, V): positive, like counts
    probs = counts / counts.sum(dim=1, keepdim=True)  # (B, V): each row sums to 1
    return -probs[torch.arange(len(targets)), targets].log().mean()


def running_float32_nll(model: CountingNgram, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Average NLL as the lecture's loop computes it: one log-prob at a time into a float32
    running sum (Chapter 1). ``evaluate`` gives the exactly rounded mean instead."""
    logp = model.probs[model.context_ids(X), Y].log()  # (N,)
    # np.add.accumulate adds strictly left to right, each partial sum rounded to float32
    total = np.add.accumulate(logp.numpy(), dtype=np.float32)[-1]
    return float(-total / np.float32(len(logp)))


@dataclass(frozen=True)
class BigramConfig:
    """The neural bigram as a config, built like every other model (the ``charlm`` command)."""

    vocab_size: int = 27  # number of tokens
    block_size: int = 1  # characters of context: one

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(
                f"BigramConfig.vocab_size must be an integer >= 2, got {self.vocab_size!r}"
            )
        if self.block_size != 1:
            raise ValueError(f"BigramConfig.block_size is 1, got {self.block_size!r}")

    def build(self, generator: torch.Generator) -> NeuralBigram:
        """A fresh neural bigram whose weights are drawn from ``generator``."""
        return NeuralBigram(self.vocab_size, generator)
