"""The training loop and split evaluation shared by every chapter (Chapters 1-2).

What it is about: minibatch (or full-batch) gradient descent with the lectures' step
learning-rate schedule, seeded batch sampling and a per-step loss history. What it is
not about: models (any ``idx -> logits`` module), data loading, or plotting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (Chapter 1); invalid values raise ValueError."""

    steps: int = 200_000  # optimisation steps (one batch each)
    batch_size: int | None = 32  # examples per step; None means the whole set (full batch)
    lr: float = 0.1  # learning rate before decay_step
    decay_step: int | None = None  # from this step on the rate is lr_final (step schedule)
    lr_final: float | None = None  # learning rate from decay_step on
    l2: float = 0.0  # weight of the mean-square penalty on every parameter with >= 2 dims

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"TrainConfig.{name} {why}, got {getattr(self, name)!r}")

        if not isinstance(self.steps, int) or self.steps <= 0:
            raise bad("steps", "must be a positive integer")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size <= 0
        ):
            raise bad("batch_size", "must be a positive integer or None (full batch)")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be a finite number > 0")
        if (self.decay_step is None) != (self.lr_final is None):
            raise bad("decay_step", "and lr_final must be given together")
        if self.decay_step is not None:
            if not isinstance(self.decay_step, int) or not 0 < self.decay_step <= self.steps:
                raise bad("decay_step", "must be an integer in 1..steps")
            if not (math.isfinite(self.lr_final) and self.lr_final > 0):
                raise bad("lr_final", "must be a finite number > 0")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise bad("l2", "must be a finite number >= 0")

    def lr_at(self, step: int) -> float:
        """The learning rate used at ``step`` (0-based)."""
        if self.decay_step is not None and step >= self.decay_step:
            return self.lr_final
        return self.lr


@dataclass
class TrainResult:
    """What a training run returns (Chapter 1)."""

    losses: list[float]  # training loss of each step's batch, before that step's update
    seconds: float  # wall-clock time of the loop


def train(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator | None = None,
) -> TrainResult:
    """Train ``model`` on (X, Y) by gradient descent; returns the loss history (Chapter 1).

    Each step draws ``torch.randint(0, N, (batch_size,), generator=generator)`` (none for
    full batch), computes the cross-entropy, sets every grad to None, back-propagates and
    updates ``p += -lr * p.grad``: the lectures' loop, in their order, so their seeded
    runs reproduce.
    """
    if config.batch_size is not None and generator is None:
        raise ValueError("minibatch training needs an explicit torch.Generator")
    params = [p for p in model.parameters() if p.requires_grad]
    penalised = [p for p in params if p.ndim >= 2]
    losses = torch.empty(config.steps)
    model.train()
    start = time.perf_counter()
    for step in range(config.steps):
        if config.batch_size is None:
            Xb, Yb = X, Y
        else:
            ix = torch.randint(0, X.shape[0], (config.batch_size,), generator=generator)
            Xb, Yb = X[ix], Y[ix]  # (B, T), (B,)
        logits = model(Xb)  # (B, V)
        loss = F.cross_entropy(logits, Yb)
        objective = loss
        if config.l2 > 0:
            objective = loss + config.l2 * sum((p**2).mean() for p in penalised)
        for p in params:
            p.grad = None
        objective.backward()
        lr = config.lr_at(step)
        with torch.no_grad():
            for p in params:
                p += -lr * p.grad
        losses[step] = loss.detach()  # no .item(): no sync per step
    seconds = time.perf_counter() - start
    return TrainResult(losses=losses.tolist(), seconds=seconds)


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Mean cross-entropy of ``model`` on (X, Y) in eval mode, without a graph (Chapter 1)."""
    was_training = model.training
    model.eval()
    try:
        return F.cross_entropy(model(X), Y).item()
    finally:
        model.train(was_training)
