"""AdamW with a cosine learning rate: Chapter 6's recipe, as a step for the same loop (Chapter 6).

The lectures update every parameter by ``-lr * grad`` (``train.sgd_step``). Chapter 6 trains
the same network with larger batches and AdamW (Loshchilov & Hutter 2019), which keeps a
running mean and variance of each parameter's gradient and scales its step by them, with a
learning rate that follows a cosine from ``lr`` down to ``lr_final``. ``AdamWConfig`` is a
training config like ``train.TrainConfig``: ``train()`` runs its steps with the same loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from charlm.sequence import next_char_loss
from charlm.train import positive_int


@dataclass(frozen=True)
class AdamWConfig:
    """AdamW steps on a cosine schedule (Chapter 6); invalid values raise ValueError."""

    steps: int = 4000  # optimisation steps (one batch each)
    batch_size: int = 512  # examples per step
    lr: float = 5e-3  # learning rate at the first step
    lr_final: float = 0.0  # learning rate the cosine reaches at the last step
    weight_decay: float = 0.0  # AdamW's decoupled weight decay (Chapter 7 uses 0.1)

    def __post_init__(self) -> None:
        positive_int("AdamWConfig", "steps", self.steps)
        positive_int("AdamWConfig", "batch_size", self.batch_size)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"AdamWConfig.lr must be a finite number > 0, got {self.lr!r}")
        if not (math.isfinite(self.lr_final) and 0 <= self.lr_final <= self.lr):
            raise ValueError(
                f"AdamWConfig.lr_final must be between 0 and lr, got {self.lr_final!r}"
            )
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(
                f"AdamWConfig.weight_decay must be a finite number >= 0, got {self.weight_decay!r}"
            )

    def lr_at(self, step: int) -> float:
        """The cosine from ``lr`` at step 0 to ``lr_final`` at step ``steps``."""
        low = self.lr_final
        return low + 0.5 * (self.lr - low) * (1 + math.cos(math.pi * step / self.steps))

    def make_step(self, model: nn.Module) -> AdamWStep:
        """A fresh AdamW optimiser for ``model``, as the loop's step."""
        return AdamWStep(model, self.weight_decay)


class AdamWStep:
    """One AdamW update of ``model`` on a batch at rate ``lr``; returns its loss (Chapter 6)."""

    def __init__(self, model: nn.Module, weight_decay: float) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        # fused: the whole update in one kernel per step; the rate is set at every step
        self.optimizer = torch.optim.AdamW(params, weight_decay=weight_decay, fused=True)

    def __call__(
        self, model: nn.Module, Xb: torch.Tensor, Yb: torch.Tensor, lr: float
    ) -> torch.Tensor:
        loss = next_char_loss(model, Xb, Yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        return loss
