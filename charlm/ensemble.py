"""An ensemble: several models trained alike from different seeds, their predictions averaged
(Chapter 7).

Two networks trained on the same names from different random starts make different
mistakes; the mean of their next-character probabilities is a better guess than either
(Dietterich 2000; Lakshminarayanan et al. 2017 for neural networks). Averaging
probabilities, not logits, keeps every member's say: a character one member finds likely
keeps at least ``1/K`` of that member's probability. The ensemble keeps the book's contract
(``idx -> logits``): its logits are the log of the mean probability, so ``evaluate``,
``sample`` and the cross-entropy read it like any other model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm.recurrent import RecurrentConfig
from charlm.sequence import SequenceModel
from charlm.transformer import TransformerConfig


class Ensemble(SequenceModel):
    """The mean of its members' next-character probabilities, as logits (Chapter 7).

    ``log(mean_k p_k) = logsumexp_k(log p_k) - log K``: the log-probabilities are added in
    log space, so a small probability does not round to zero first.
    """

    def __init__(self, members: Sequence[SequenceModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        sizes = {m.block_size for m in members}
        if len(sizes) != 1:
            raise ValueError(f"an ensemble's members must read the same context, got {sizes}")
        self.members = nn.ModuleList(members)
        self.block_size = members[0].block_size

    def all_logits(self, idx: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([F.log_softmax(m.all_logits(idx), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))  # (B, T, V)


@dataclass(frozen=True)
class EnsembleConfig:
    """``size`` models of one config (Chapter 7); each trains from its own seed."""

    member: RecurrentConfig | TransformerConfig  # every member's config
    size: int = 3  # how many members

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"EnsembleConfig.size must be a positive integer, got {self.size!r}")

    @property
    def block_size(self) -> int:
        return self.member.block_size

    def build(self, generator: torch.Generator) -> Ensemble:
        """Members built one after another from ``generator`` (a trained ensemble's weights
        are loaded into it; ``train_ensemble`` seeds each member on its own)."""
        return Ensemble([self.member.build(generator) for _ in range(self.size)])
